import { describe, expect, it } from 'vitest';
import { OpenAIOutputWriter } from '../../../src/faces/openai/batch-output.js';
import { geminiKeyOf, openaiKeyOf, translateBatchInput } from '../../../src/faces/openai/batch-input.js';
import type { ResultItem } from '../../../src/batch/result-reader.js';
import { loadModelTable } from '../../../src/models/model-table.js';
import { ModelResolver } from '../../../src/models/resolver.js';

const models = new ModelResolver({ table: loadModelTable() });
const opts = { resolve: (n: string) => models.resolve(n), defaultModel: 'gemini-3-pro-image', servedModels: models.servedNames() };
const jsonl = (lines: unknown[]) => Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n'));
const gen = (id: string, body: Record<string, unknown>) => ({ custom_id: id, method: 'POST', url: '/v1/images/generations', body: { model: 'nano-banana-pro', prompt: 'p', ...body } });

describe('OpenAI batch input to Google batch lines', () => {
  it('turns each line into Google requests, n of them for n images, keyed back to its custom_id', () => {
    const out = translateBatchInput(jsonl([gen('a', { size: '4K' }), gen('b:with:colons', { n: 2, size: '1536x1024' })]), opts);
    expect(out).toMatchObject({ endpoint: '/v1/images/generations', requests: 2, modelAsked: 'nano-banana-pro' });
    expect(out.model.id).toBe('gemini-3-pro-image');
    const lines = out.jsonl.toString().trim().split('\n').map((l) => JSON.parse(l) as { key: string; request: { generationConfig: { imageConfig?: Record<string, string> } } });
    expect(lines.map((l) => l.key)).toEqual([geminiKeyOf('a', 0, 1), geminiKeyOf('b:with:colons', 0, 2), geminiKeyOf('b:with:colons', 1, 2)]);
    expect(lines[0]!.request.generationConfig.imageConfig).toEqual({ imageSize: '4K' });
    expect(lines[1]!.request.generationConfig.imageConfig).toEqual({ aspectRatio: '3:2', imageSize: '1K' });
    expect(openaiKeyOf(lines[2]!.key)).toEqual({ customId: 'b:with:colons', index: 1, count: 2 });
    expect(openaiKeyOf('plain')).toBeUndefined();
  });

  it.each([
    ['a line that is not JSON', Buffer.from('{"custom_id": "a"'), /Line 1 of the batch input file: not valid JSON/],
    ['a custom_id used twice', jsonl([gen('a', {}), gen('a', {})]), /Line 2 .*custom_id 'a' is used twice/],
    ['another endpoint', jsonl([{ ...gen('a', {}), url: '/v1/chat/completions' }]), /Line 1 .*url must be/],
    ['two endpoints', jsonl([gen('a', {}), { custom_id: 'b', method: 'POST', url: '/v1/images/edits', body: { prompt: 'x', image: 'data:image/png;base64,AAAA' } }]), /Line 2 .*same url/],
    ['two models', jsonl([gen('a', {}), gen('b', { model: 'nano-banana-2' })]), /Line 2 .*same model/],
    ['a size the model cannot make', jsonl([gen('a', { model: 'nano-banana-2-lite', size: '4K' })]), /Line 1 .*Invalid value: '4K'/],
    ['streaming', jsonl([gen('a', { stream: true })]), /Line 1 .*stream/],
    ['an edit image to fetch', jsonl([{ custom_id: 'e', url: '/v1/images/edits', body: { prompt: 'x', image: 'https://x/y.png' } }]), /Line 1 .*data: URLs/],
    ['no request at all', Buffer.from('\n\n'), /holds no request/],
  ])('refuses %s, naming the line', (_name, bytes, message) => {
    expect(() => translateBatchInput(bytes, opts)).toThrow(message);
  });
});

const item = (key: string, index: number, image?: string, error?: ResultItem['error']): ResultItem => ({
  index,
  key,
  ...(error
    ? { error }
    : {
        response: {
          finishReasons: ['STOP'],
          imageCount: image ? 1 : 0,
          images: image ? [{ mimeType: 'image/png', base64: [Buffer.from(image.slice(0, 3)), Buffer.from(image.slice(3))], base64Length: image.length }] : [],
          text: '',
          usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 1130, thoughtsTokenCount: 5, candidatesTokensDetails: [{ modality: 'IMAGE', tokenCount: 1120 }] },
        },
      }),
});

describe('Google result lines to the OpenAI batch output', () => {
  it("writes one line per OpenAI request with its images as b64_json, joining an n>1 request's responses", () => {
    const w = new OpenAIOutputWriter('batches/abc', 1_700_000_000);
    const out = [
      ...w.push(item(geminiKeyOf('a', 0, 1), 0, 'AAAAimage')),
      ...w.push(item(geminiKeyOf('b', 0, 2), 1, 'BBBB')),
      ...w.push(item(geminiKeyOf('b', 1, 2), 2, 'CCCC')),
      ...w.push(item(geminiKeyOf('c', 0, 1), 3, undefined, { code: 3, message: 'bad prompt', status: 'INVALID_ARGUMENT' })),
      ...w.end(),
    ];
    const lines = Buffer.concat(out).toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.map((l) => l['custom_id'])).toEqual(['a', 'b', 'c']);
    expect(lines[0]).toMatchObject({ response: { status_code: 200, request_id: 'batches/abc#0', body: { created: 1_700_000_000, data: [{ b64_json: 'AAAAimage' }], usage: { input_tokens: 10, output_tokens: 1135, output_tokens_details: { image_tokens: 1120, text_tokens: 15 } } } }, error: null });
    expect(lines[1]!['response'].body.data).toEqual([{ b64_json: 'BBBB' }, { b64_json: 'CCCC' }]);
    expect(lines[1]!['response'].body.usage.output_tokens_details.image_tokens).toBe(2240);
    expect(lines[2]).toMatchObject({ response: { status_code: 400, body: { error: { message: 'bad prompt', type: 'invalid_request_error', code: 'INVALID_ARGUMENT' } } } });
    expect(new Set(lines.map((l) => l['id'])).size).toBe(3);
  });

  it("writes a request whose n responses did not all come (a cancelled batch) with what came", () => {
    const w = new OpenAIOutputWriter('batches/abc', 1);
    expect(w.push(item(geminiKeyOf('b', 0, 3), 0, 'BBBB'))).toEqual([]);
    const lines = Buffer.concat(w.end()).toString().trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ custom_id: 'b', response: { body: { data: [{ b64_json: 'BBBB' }] } } });
  });
});
