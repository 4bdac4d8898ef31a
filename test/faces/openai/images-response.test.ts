import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildImagesResponse, classifyResult, sumUsage, type SpooledImage } from '../../../src/faces/openai/images-response.js';
import { renderOpenAIError } from '../../../src/faces/openai/errors.js';
import type { ScanSummary, ScannedImage } from '../../../src/gemini/response-scanner.js';
import type { UsageMetadata } from '../../../src/gemini/types.js';
import { FINAL_USAGE } from '../../gemini/gemini-answers.js';

function summary(over: Partial<ScanSummary> = {}): ScanSummary {
  const images = over.images ?? [];
  return {
    messages: 1,
    finishReasons: ['STOP'],
    imageCount: images.filter((i) => !i.thought).length,
    thoughtImageCount: images.filter((i) => i.thought).length,
    images,
    text: '',
    thoughtText: '',
    signedParts: [],
    malformed: false,
    bytes: 0,
    ...over,
  };
}

/** An image whose base64 is cut into slices at the given offsets. */
function image(base64: string, cuts: number[] = [], over: Partial<ScannedImage> = {}): ScannedImage {
  const raw = Buffer.from(base64, 'latin1');
  const points = [...new Set([0, ...cuts.filter((c) => c > 0 && c < raw.length), raw.length])].sort((a, b) => a - b);
  const slices: Buffer[] = [];
  for (let i = 0; i + 1 < points.length; i++) slices.push(raw.subarray(points[i], points[i + 1]));
  return { mimeType: 'image/png', base64: slices, base64Length: raw.length, thought: false, candidateIndex: 0, ...over };
}

function b64(bytes: number, seed: number): string {
  const buf = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) buf[i] = (i * 31 + seed * 17) & 0xff;
  return buf.toString('base64');
}

interface ParsedResponse {
  created: number;
  data: Array<{ b64_json: string; revised_prompt?: string }>;
  output_format?: string;
  usage: {
    input_tokens: number;
    input_tokens_details: { text_tokens: number; image_tokens: number };
    output_tokens: number;
    output_tokens_details: { text_tokens: number; image_tokens: number };
    total_tokens: number;
    cost_usd: string;
  };
}

function parse(chunks: ReadonlyArray<Buffer | SpooledImage>): ParsedResponse {
  return JSON.parse(Buffer.concat(chunks as Buffer[]).toString('utf8')) as ParsedResponse;
}

const proUsage: UsageMetadata = FINAL_USAGE;

describe('buildImagesResponse', () => {
  it('copies the captured base64 slices in untouched, referencing the same Buffers', () => {
    const first = image(b64(3000, 1), [1, 100, 2047, 3999]);
    const second = image(b64(5, 2));
    const built = buildImagesResponse([{ summary: summary({ images: [first] }) }, { summary: summary({ images: [second] }) }], 1_761_000_000, 0);
    const body = parse(built.chunks);
    expect(body.data.map((d) => d.b64_json)).toEqual([b64(3000, 1), b64(5, 2)]);
    for (const slice of [...first.base64, ...second.base64]) expect(built.chunks).toContain(slice);
    expect(built.imageCount).toBe(2);
    expect(built.byteLength).toBe(Buffer.concat(built.chunks as Buffer[]).length);
  });

  it('parses as JSON whatever the slice boundaries', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 600 }),
        fc.array(fc.nat({ max: 900 }), { maxLength: 12 }),
        fc.string(),
        (bytes, cuts, text) => {
          const base64 = Buffer.from(bytes).toString('base64');
          const built = buildImagesResponse([{ summary: summary({ images: [image(base64, cuts)], text }) }], 7, 123);
          const body = parse(built.chunks);
          expect(body.data[0]?.b64_json).toBe(base64);
          expect(body.data[0]?.revised_prompt).toBe(text.trim() === '' ? undefined : text.trim());
        },
      ),
    );
  });

  it('keeps JSON string escapes Google put inside the base64 valid', () => {
    // Google may escape '/' as '\/' in JSON; the scanner then hands over the raw string bytes.
    const built = buildImagesResponse([{ summary: summary({ images: [image('ab\\/cd==')] }) }], 1, 0);
    expect(parse(built.chunks).data[0]?.b64_json).toBe('ab/cd==');
  });

  it('leaves out thought images and keeps final images in order', () => {
    const s = summary({
      images: [
        image(b64(10, 1), [], { thought: true }),
        image(b64(10, 2)),
        image(b64(10, 3), [], { thought: true }),
        image(b64(10, 4)),
      ],
    });
    const body = parse(buildImagesResponse([{ summary: s }], 1, 0).chunks);
    expect(body.data.map((d) => d.b64_json)).toEqual([b64(10, 2), b64(10, 4)]);
  });

  it('leaves out calls that failed but counts their tokens', () => {
    const blocked = summary({ finishReasons: ['IMAGE_SAFETY'], usageMetadata: { promptTokenCount: 10 } });
    const good = summary({ images: [image(b64(20, 9))], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 1120 } });
    const built = buildImagesResponse([{ summary: blocked }, { summary: good }], 1, 0);
    const body = parse(built.chunks);
    expect(body.data).toHaveLength(1);
    expect(built.imageCount).toBe(1);
    expect(body.usage.input_tokens).toBe(15);
    expect(body.usage.output_tokens).toBe(1120);
  });

  it("writes Google's non-thought text as revised_prompt, escaped", () => {
    const text = ' Here is "your" cat\n</script> ☃ ';
    const body = parse(buildImagesResponse([{ summary: summary({ images: [image('QUJD')], text }) }], 1, 0).chunks);
    expect(body.data[0]).toEqual({ b64_json: 'QUJD', revised_prompt: text.trim() });
  });

  it('writes created, output_format and usage in the OpenAI shape', () => {
    const body = parse(buildImagesResponse([{ summary: summary({ images: [image('QUJD')], usageMetadata: proUsage }) }], 1_761_000_000.9, 134_000_000).chunks);
    expect(body).toEqual({
      created: 1_761_000_000,
      data: [{ b64_json: 'QUJD' }],
      output_format: 'png',
      usage: {
        input_tokens: 1139,
        input_tokens_details: { text_tokens: 19, image_tokens: 1120 },
        output_tokens: 1327,
        output_tokens_details: { text_tokens: 207, image_tokens: 1120 },
        total_tokens: 2466,
        cost_usd: '0.134000',
      },
    });
  });

  it('writes cost_usd as a string of six decimals', () => {
    const raw = Buffer.concat(buildImagesResponse([{ summary: summary({ images: [image("QUJD")] }) }], 1, 134_000_000).chunks as Buffer[]).toString();
    expect(raw).toContain('"cost_usd":"0.134000"}');
  });

  const costs: Array<[number, string]> = [
    [0, '0.000000'],
    [499, '0.000000'],
    [500, '0.000001'],
    [1_234_567_890, '1.234568'],
    [240_000_000_000, '240.000000'],
  ];
  for (const [nano, usd] of costs) {
    it(`writes ${nano} nano-dollars as cost_usd ${usd}, as the cost header does`, () => {
      const raw = Buffer.concat(buildImagesResponse([], 1, nano).chunks as Buffer[]).toString();
      expect(raw).toContain(`"cost_usd":"${usd}"}`);
    });
  }

  it('names no output_format when images differ in type', () => {
    const s = summary({ images: [image('QUJD'), image('QUJD', [], { mimeType: 'image/jpeg' })] });
    expect(parse(buildImagesResponse([{ summary: s }], 1, 0).chunks).output_format).toBeUndefined();
  });

  it('writes an empty data array for no successful call', () => {
    expect(parse(buildImagesResponse([], 1, 0).chunks).data).toEqual([]);
  });
});

describe('sumUsage', () => {
  const cases: Array<[string, Array<UsageMetadata | undefined>, number[]]> = [
    // [input, input text, input image, output, output text, output image, total]
    ['one Pro answer with thoughts', [proUsage], [1139, 19, 1120, 1327, 207, 1120, 2466]],
    ['two answers summed', [proUsage, proUsage], [2278, 38, 2240, 2654, 414, 2240, 4932]],
    ['no usageMetadata', [undefined], [0, 0, 0, 0, 0, 0, 0]],
    ['no modality details: all counted as text', [{ promptTokenCount: 9, candidatesTokenCount: 1293 }], [9, 9, 0, 1293, 1293, 0, 1302]],
    [
      '2.5 Flash answer without thoughts',
      [{ promptTokenCount: 9, candidatesTokenCount: 1293, candidatesTokensDetails: [{ modality: 'TEXT', tokenCount: 3 }, { modality: 'IMAGE', tokenCount: 1290 }] }],
      [9, 9, 0, 1293, 3, 1290, 1302],
    ],
  ];
  for (const [name, usages, [input, inText, inImage, output, outText, outImage, total]] of cases) {
    it(`sums ${name}`, () => {
      expect(sumUsage(usages.map((u) => summary(u ? { usageMetadata: u } : {})))).toEqual({
        input_tokens: input,
        input_tokens_details: { text_tokens: inText, image_tokens: inImage },
        output_tokens: output,
        output_tokens_details: { text_tokens: outText, image_tokens: outImage },
        total_tokens: total,
      });
    });
  }
});

describe('classifyResult', () => {
  it('accepts a call with a final image', () => {
    expect(classifyResult(summary({ images: [image('QUJD')] }))).toEqual({ ok: true });
  });

  const policy = ['IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'SAFETY', 'PROHIBITED_CONTENT', 'BLOCKLIST', 'SPII', 'RECITATION', 'IMAGE_RECITATION'];
  for (const reason of policy) {
    it(`reports finish reason ${reason} as a content policy violation (400)`, () => {
      const verdict = classifyResult(summary({ finishReasons: [reason], finishMessage: 'Unable to show the image.' }));
      if (verdict.ok) throw new Error('expected a failure');
      expect(verdict.error.code).toBe('CONTENT_POLICY');
      expect(verdict.error.message).toContain(reason);
      expect(verdict.error.message).toContain('Unable to show the image.');
      const rendered = renderOpenAIError(verdict.error);
      expect(rendered.status).toBe(400);
      expect(rendered.body.error.code).toBe('content_policy_violation');
    });
  }

  it('reports a blocked prompt as a content policy violation', () => {
    const verdict = classifyResult(summary({ finishReasons: [], blockReason: 'PROHIBITED_CONTENT', blockReasonMessage: 'Blocked.' }));
    if (verdict.ok) throw new Error('expected a failure');
    expect(verdict.error.code).toBe('CONTENT_POLICY');
    expect(verdict.error.message).toContain('PROHIBITED_CONTENT');
  });

  const noImage: Array<[string, Partial<ScanSummary>, string[]]> = [
    ['IMAGE_OTHER', { finishReasons: ['IMAGE_OTHER'], finishMessage: 'Try again.' }, ['IMAGE_OTHER', 'Try again.']],
    ['NO_IMAGE', { finishReasons: ['NO_IMAGE'] }, ['NO_IMAGE']],
    ['MAX_TOKENS', { finishReasons: ['MAX_TOKENS'] }, ['MAX_TOKENS']],
    ['OTHER', { finishReasons: ['OTHER'] }, ['OTHER']],
    ['text-only STOP', { finishReasons: ['STOP'], text: 'What kind of cat would you like?' }, ['STOP', 'What kind of cat would you like?']],
    ['STOP with neither text nor image', { finishReasons: ['STOP'] }, ['STOP']],
    ['only thought images', { finishReasons: ['STOP'], images: [image('QUJD', [], { thought: true })] }, ['STOP']],
    ['no candidates at all', { finishReasons: [] }, ['no image']],
    ['a malformed body, image or not', { malformed: true, images: [image('QUJD')] }, ['malformed']],
  ];
  for (const [name, over, fragments] of noImage) {
    it(`reports ${name} as no image (502) with Google's reason`, () => {
      const verdict = classifyResult(summary(over));
      if (verdict.ok) throw new Error('expected a failure');
      expect(verdict.error.code).toBe('NO_IMAGE');
      for (const f of fragments) expect(verdict.error.message).toContain(f);
      expect(renderOpenAIError(verdict.error).status).toBe(502);
    });
  }

  it('cuts a long text-only answer in the message', () => {
    const verdict = classifyResult(summary({ text: 'x'.repeat(5000) }));
    if (verdict.ok) throw new Error('expected a failure');
    expect(verdict.error.message.length).toBeLessThan(400);
  });

  it('reports an error envelope in the body as an upstream error carrying Google status and retry delay', () => {
    const verdict = classifyResult(
      summary({
        finishReasons: [],
        error: {
          code: 429,
          message: 'Quota exceeded.',
          status: 'RESOURCE_EXHAUSTED',
          details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37s' }, 'junk'],
        },
      }),
    );
    if (verdict.ok) throw new Error('expected a failure');
    expect(verdict.error.code).toBe('UPSTREAM_ERROR');
    expect(verdict.error.details.upstream).toMatchObject({ httpStatus: 429, googleStatus: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded.', retryAfterMs: 37_000 });
    const rendered = renderOpenAIError(verdict.error);
    expect(rendered.status).toBe(429);
    expect(rendered.headers['retry-after']).toBe('37');
  });

  it('reports an error envelope even when an image came first', () => {
    const verdict = classifyResult(summary({ images: [image('QUJD')], error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } }));
    if (verdict.ok) throw new Error('expected a failure');
    expect(verdict.error.code).toBe('UPSTREAM_ERROR');
    expect(renderOpenAIError(verdict.error).status).toBe(502);
  });
});
