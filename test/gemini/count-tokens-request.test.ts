import { describe, expect, it } from 'vitest';
import { canonicalCountTokensBody } from '../../src/gemini/count-tokens-request.js';

const ID = 'gemini-3-pro-image';
const rewrite = (body: string) => canonicalCountTokensBody(Buffer.from(body), ID).toString();

describe('canonicalCountTokensBody: the one body rewrite (#11 item 5)', () => {
  it.each<[string, string, string]>([
    ['the legacy SDK body', '{"generateContentRequest":{"model":"models/nano-banana-pro","contents":[]}}', '{"generateContentRequest":{"model":"models/gemini-3-pro-image","contents":[]}}'],
    ['a bare name', '{"generateContentRequest":{"model":"nano-banana-pro"}}', '{"generateContentRequest":{"model":"models/gemini-3-pro-image"}}'],
    ['snake_case, which Google also takes', '{"generate_content_request":{"model":"models/nano-banana-pro"}}', '{"generate_content_request":{"model":"models/gemini-3-pro-image"}}'],
    [
      'odd spacing, escapes in the name, model after contents',
      '{ "generateContentRequest" : { "contents":[{"parts":[{"text":"model"}]}] ,\n "model" :\t"models/nano-\\u0062anana-pro" } , "x":1}',
      '{ "generateContentRequest" : { "contents":[{"parts":[{"text":"model"}]}] ,\n "model" :\t"models/gemini-3-pro-image" } , "x":1}',
    ],
    ['a repeated member (each one)', '{"generateContentRequest":{"model":"a","model":"b"}}', '{"generateContentRequest":{"model":"models/gemini-3-pro-image","model":"models/gemini-3-pro-image"}}'],
  ])('rewrites %s', (_, body, want) => {
    expect(rewrite(body)).toBe(want);
  });

  it.each<[string, string]>([
    ['contents only', '{"contents":[{"parts":[{"text":"generateContentRequest"}]}]}'],
    ['a model already canonical', '{"generateContentRequest":{"model":"models/gemini-3-pro-image"}}'],
    ['a model that is not a string', '{"generateContentRequest":{"model":7}}'],
    ['a wrapper that is not at the top level', '{"a":{"generateContentRequest":{"model":"x"}}}'],
    ['a model nested deeper in the wrapper', '{"generateContentRequest":{"tools":[{"model":"x"}]}}'],
    ['a wrapper that is an array', '{"generateContentRequest":[{"model":"x"}]}'],
    ['malformed JSON (Google judges it)', '{"generateContentRequest":{"model":"x"'],
  ])('returns the same buffer for %s', (_, body) => {
    const buf = Buffer.from(body);
    expect(canonicalCountTokensBody(buf, ID)).toBe(buf);
  });
});
