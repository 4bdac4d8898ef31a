import { describe, expect, it } from 'vitest';
import { GatewayError, type ErrorCode } from '../../../src/errors/gateway-error.js';
import { loadModelTable } from '../../../src/models/model-table.js';
import { ModelResolver } from '../../../src/models/resolver.js';
import { ManualClock } from '../../../src/time/clock.js';
import { buildGeminiRequest, parseGenerationsBody, type ParseOptions } from '../../../src/faces/openai/generations-request.js';

// The lineup of 2026-11-28 (config/models.yaml): the preview ids and 2.5 Flash are past shutdown.
const resolver = new ModelResolver({ table: loadModelTable(), aliases: { 'poster-model': 'gemini-3-pro-image' }, clock: new ManualClock('2026-11-28T12:00:00Z') });
const opts: ParseOptions = {
  resolve: (name) => resolver.resolve(name),
  defaultModel: 'gemini-3-pro-image',
  servedModels: resolver.servedNames(),
};

function refusal(body: unknown): GatewayError {
  try {
    parseGenerationsBody(body, opts);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(body)} to be refused`);
}

describe('parseGenerationsBody: valid bodies', () => {
  it('fills the defaults for a body with only a prompt', () => {
    expect(parseGenerationsBody({ prompt: 'a cat' }, opts)).toEqual({
      modelAsked: 'gemini-3-pro-image',
      model: resolver.resolve('gemini-3-pro-image'),
      prompt: 'a cat',
      n: 1,
      imageConfig: {},
      responseFormat: 'b64_json',
      stream: false,
      partialImages: 0,
      output: {},
    });
  });

  const models: Array<[string, string]> = [
    ['nano-banana', 'gemini-3.1-flash-lite-image'],
    ['Nano-Banana-2', 'gemini-nano-banana-2.1'],
    ['nano-banana-2-lite', 'gemini-3.1-flash-lite-image'],
    ['nano-banana-pro', 'gemini-3-pro-image'],
    ['models/gemini-3-pro-image', 'gemini-3-pro-image'],
    // Deprecated, not shut down: served as asked.
    ['google/gemini-3.1-flash-image', 'gemini-3.1-flash-image'],
    // Shut down: served by the replacement (chain: 2.5 Flash -> Lite).
    ['models/gemini-3-pro-image-preview', 'gemini-3-pro-image'],
    ['google/gemini-2.5-flash-image', 'gemini-3.1-flash-lite-image'],
    ['poster-model', 'gemini-3-pro-image'],
  ];
  for (const [asked, canonical] of models) {
    it(`resolves model ${asked} to ${canonical} and keeps the name asked`, () => {
      const req = parseGenerationsBody({ prompt: 'x', model: asked }, opts);
      expect(req.model.id).toBe(canonical);
      expect(req.modelAsked).toBe(asked);
    });
  }

  it('reads n, size, user and an explicit b64_json', () => {
    const req = parseGenerationsBody({ prompt: 'x', n: 3, size: '1536x1024', user: 'u-1', response_format: 'b64_json' }, opts);
    expect(req).toMatchObject({ n: 3, imageConfig: { aspectRatio: '3:2', imageSize: '1K' }, user: 'u-1', responseFormat: 'b64_json' });
  });

  it('reads aspect_ratio given directly', () => {
    expect(parseGenerationsBody({ prompt: 'x', aspect_ratio: '21:9', size: '4K' }, opts).imageConfig).toEqual({ aspectRatio: '21:9', imageSize: '4K' });
  });

  it('treats null optional fields as absent', () => {
    const req = parseGenerationsBody({ prompt: 'x', n: null, model: null, size: null, user: null, response_format: null, stream: null }, opts);
    expect(req).toMatchObject({ n: 1, modelAsked: 'gemini-3-pro-image', imageConfig: {}, responseFormat: 'b64_json' });
    expect(req.user).toBeUndefined();
  });

  it('reads the OpenAI knobs it honours, and ignores the others and unknown fields', () => {
    const req = parseGenerationsBody(
      {
        prompt: 'x',
        quality: 'hd',
        style: 'vivid',
        background: 'opaque',
        output_format: 'webp',
        output_compression: 50,
        moderation: 'low',
        partial_images: 2,
        stream: true,
        some_future_field: { a: 1 },
      },
      opts,
    );
    expect(req).toMatchObject({ prompt: 'x', n: 1, imageConfig: { imageSize: '2K' }, quality: 'hd', background: 'opaque', output: { format: 'webp', compression: 50 }, partialImages: 2, stream: true });
  });

  it('reads response_format url (#14.4)', () => {
    expect(parseGenerationsBody({ prompt: 'x', response_format: 'url' }, opts).responseFormat).toBe('url');
  });
});

describe('parseGenerationsBody: each invalid field is a 400 naming it', () => {
  const cases: Array<[string, unknown, ErrorCode, string | undefined, RegExp]> = [
    ['a JSON array', [], 'INVALID_ARGUMENT', undefined, /JSON object/],
    ['null', null, 'INVALID_ARGUMENT', undefined, /JSON object/],
    ['a string', 'prompt', 'INVALID_ARGUMENT', undefined, /JSON object/],
    ['a number', 5, 'INVALID_ARGUMENT', undefined, /JSON object/],
    ['no prompt', {}, 'INVALID_ARGUMENT', 'prompt', /^Missing required parameter: 'prompt'/],
    ['a numeric prompt', { prompt: 5 }, 'INVALID_ARGUMENT', 'prompt', /^Invalid type for 'prompt'/],
    ['an empty prompt', { prompt: '' }, 'INVALID_ARGUMENT', 'prompt', /too short/],
    ['a blank prompt', { prompt: '  \n' }, 'INVALID_ARGUMENT', 'prompt', /too short/],
    ['n = 0', { prompt: 'x', n: 0 }, 'INVALID_ARGUMENT', 'n', />= 1/],
    ['n = 11', { prompt: 'x', n: 11 }, 'INVALID_ARGUMENT', 'n', /<= 10/],
    ['n = 1.5', { prompt: 'x', n: 1.5 }, 'INVALID_ARGUMENT', 'n', /^Invalid type for 'n'/],
    ['n as a string in JSON', { prompt: 'x', n: '2' }, 'INVALID_ARGUMENT', 'n', /^Invalid type for 'n'/],
    ['a numeric model', { prompt: 'x', model: 3 }, 'INVALID_ARGUMENT', 'model', /^Invalid type for 'model'/],
    ['an unknown model', { prompt: 'x', model: 'dall-e-3' }, 'MODEL_NOT_FOUND', 'model', /`dall-e-3` does not exist/],
    ['response_format url when streaming', { prompt: 'x', response_format: 'url', stream: true }, 'INVALID_ARGUMENT', 'response_format', /b64_json/],
    ['an unknown response_format', { prompt: 'x', response_format: 'png' }, 'INVALID_ARGUMENT', 'response_format', /'png'/],
    ['a numeric response_format', { prompt: 'x', response_format: 1 }, 'INVALID_ARGUMENT', 'response_format', /^Invalid type/],
    ['a numeric user', { prompt: 'x', user: 42 }, 'INVALID_ARGUMENT', 'user', /^Invalid type for 'user'/],
    ['partial_images 4', { prompt: 'x', partial_images: 4 }, 'INVALID_ARGUMENT', 'partial_images', /<= 3/],
    ['a transparent background (Gemini makes opaque images only)', { prompt: 'x', background: 'transparent' }, 'INVALID_ARGUMENT', 'background', /opaque images only/],
    ['an unknown output_format', { prompt: 'x', output_format: 'gif' }, 'INVALID_ARGUMENT', 'output_format', /'gif'/],
    ['output_compression 101', { prompt: 'x', output_compression: 101 }, 'INVALID_ARGUMENT', 'output_compression', /<= 100/],
    ['an unknown quality', { prompt: 'x', quality: 'ultra' }, 'INVALID_ARGUMENT', 'quality', /'ultra'/],
    ['stream as a string in JSON', { prompt: 'x', stream: 'false' }, 'INVALID_ARGUMENT', 'stream', /^Invalid type for 'stream'/],
    ['an unsupported size', { prompt: 'x', size: '999x999x9' }, 'INVALID_ARGUMENT', 'size', /'999x999x9'/],
    ['4K on Nano Banana 2 Lite (1K only)', { prompt: 'x', model: 'nano-banana', size: '4K' }, 'INVALID_ARGUMENT', 'size', /'4K'/],
    ['512 on Nano Banana 2.1', { prompt: 'x', model: 'nano-banana-2', size: '512' }, 'INVALID_ARGUMENT', 'size', /'512'/],
    ['a ratio the model lacks', { prompt: 'x', aspect_ratio: '8:1' }, 'INVALID_ARGUMENT', 'aspect_ratio', /'8:1'/],
  ];
  for (const [name, body, code, param, message] of cases) {
    it(`refuses ${name}`, () => {
      const e = refusal(body);
      expect(e.code).toBe(code);
      expect(e.details.param).toBe(param);
      expect(e.message).toMatch(message);
    });
  }

  it('lists the served models for an unknown model', () => {
    const e = refusal({ prompt: 'x', model: 'gpt-image-1' });
    expect(e.details.servedModels).toEqual(resolver.servedNames());
    for (const name of ['gemini-3-pro-image', 'gemini-nano-banana-2.1', 'nano-banana', 'poster-model']) expect(e.message).toContain(name);
    expect(e.details.servedModels).not.toContain('gemini-3-pro-image-preview');
  });

  it('refuses a default model that is not served as model_not_found, not a crash', () => {
    const e = (() => {
      try {
        parseGenerationsBody({ prompt: 'x' }, { ...opts, defaultModel: 'gone-model' });
      } catch (err) {
        return err as GatewayError;
      }
      throw new Error('expected a refusal');
    })();
    expect(e.code).toBe('MODEL_NOT_FOUND');
  });
});

describe('buildGeminiRequest', () => {
  function parse(buf: Buffer): {
    contents: Array<{ role: string; parts: Array<Record<string, unknown>> }>;
    generationConfig: { responseModalities: string[]; imageConfig?: Record<string, unknown> };
  } {
    return JSON.parse(buf.toString('utf8'));
  }

  it('sends the prompt as the first user part and asks for images only', () => {
    const body = parse(buildGeminiRequest({ prompt: 'a cat', imageConfig: {} }));
    expect(body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'a cat' }] }],
      generationConfig: { responseModalities: ['IMAGE'] },
    });
  });

  const prompts = ['quote " and backslash \\', 'line\nbreak\ttab', 'unicode ☃ 日本 🍌', '</script><b>&amp;', '\u0000\u001f\u2028'];
  for (const prompt of prompts) {
    it(`keeps the prompt ${JSON.stringify(prompt)} exactly`, () => {
      expect(parse(buildGeminiRequest({ prompt, imageConfig: {} })).contents[0]?.parts[0]).toEqual({ text: prompt });
    });
  }

  const configs: Array<[{ aspectRatio?: string; imageSize?: '512' | '1K' | '2K' | '4K' }, Record<string, unknown> | undefined]> = [
    [{}, undefined],
    [{ aspectRatio: '16:9' }, { aspectRatio: '16:9' }],
    [{ imageSize: '4K' }, { imageSize: '4K' }],
    [{ aspectRatio: '1:8', imageSize: '512' }, { aspectRatio: '1:8', imageSize: '512' }],
  ];
  for (const [imageConfig, expected] of configs) {
    it(`writes imageConfig ${JSON.stringify(expected)} for ${JSON.stringify(imageConfig)}`, () => {
      expect(parse(buildGeminiRequest({ prompt: 'x', imageConfig })).generationConfig.imageConfig).toEqual(expected);
    });
  }

  it('puts reference images after the text, in order, as inlineData', () => {
    const a = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]).toString('base64');
    const b = Buffer.alloc(3000, 0xfe).toString('base64');
    const body = parse(
      buildGeminiRequest({
        prompt: 'merge',
        images: [
          { mimeType: 'image/png', base64: a },
          { mimeType: 'image/jpeg', base64: b },
        ],
        imageConfig: { aspectRatio: '1:1' },
      }),
    );
    expect(body.contents[0]?.parts).toEqual([
      { text: 'merge' },
      { inlineData: { mimeType: 'image/png', data: a } },
      { inlineData: { mimeType: 'image/jpeg', data: b } },
    ]);
  });
});
