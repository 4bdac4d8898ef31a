import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Part, UsageMetadata } from '../../src/gemini/types.js';
import { buildAnswer, parseGenerateRequest } from './answers.js';
import { call, escapeLikeGoogle, json, KEY, prompt, type RawAnswer } from './client.js';
import type { MockModel } from './models.js';
import { startMockGoogle, type MockGoogle } from './server.js';

interface Answer {
  candidates?: Array<{ content?: { parts?: Part[]; role?: string }; finishReason?: string; index?: number; finishMessage?: string }>;
  usageMetadata?: UsageMetadata;
  modelVersion?: string;
  responseId?: string;
  promptFeedback?: { blockReason?: string };
  modelStatus?: { modelStage?: string; retirementTime?: string; message?: string };
}

// Google's lineup on 2026-11-28 (reference/models-2026-11.md §1).
const PRO = 'gemini-3-pro-image';
const NB21 = 'gemini-nano-banana-2.1';
const LITE = 'gemini-3.1-flash-lite-image';
/** Deprecated 2026-10-06, still served. */
const FLASH31 = 'gemini-3.1-flash-image';
/** Shut down: Google answers 404 for these. */
const RETIRED = ['gemini-3-pro-image-preview', 'gemini-3.1-flash-image-preview', 'gemini-2.5-flash-image', 'gemini-2.5-flash-image-preview'];
const TINY_PNG_BASE64 = Buffer.from('89504e470d0a1a0a', 'hex').toString('base64');

let mock: MockGoogle;
beforeAll(async () => {
  mock = await startMockGoogle({ imageBytes: { '2K': 6000, '4K': 20_000 } });
});
afterAll(() => mock.close());
beforeEach(() => mock.reset());

const generate = (model: string, body: unknown, opts: { key?: string | null; version?: string } = {}) =>
  call(mock.url, `/${opts.version ?? 'v1beta'}/models/${model}:generateContent`, { body, key: opts.key });

function sseEvents(raw: RawAnswer): Answer[] {
  const pieces = raw.text.split('\r\n\r\n');
  expect(pieces.pop()).toBe('');
  return pieces.map((event) => {
    expect(event).toMatch(/^data: \{/);
    expect(event).not.toMatch(/[\r\n]/);
    return JSON.parse(event.slice('data: '.length)) as Answer;
  });
}

const ceil4 = (s: string) => Math.ceil(s.length / 4);
const nonThought = (a: Answer) => a.candidates?.[0]?.content?.parts?.filter((p) => !p.thought) ?? [];
const replyText = (a: Answer) => nonThought(a).map((p) => p.text ?? '').join('');
const thoughtText = (a: Answer) => (a.candidates?.[0]?.content?.parts ?? []).filter((p) => p.thought).map((p) => p.text ?? '').join('');

describe('generateContent', () => {
  it('answers pretty-printed JSON with a trailing newline, escaping < > & like Google', async () => {
    const raw = await generate(PRO, prompt('a cat'));
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(raw.text).toBe(`${escapeLikeGoogle(JSON.stringify(JSON.parse(raw.text), null, 2))}\n`);
    expect(raw.text).toContain('\\u0026');
    expect(raw.text).toContain('\\u003c');
    expect(raw.text).not.toMatch(/[<>&]/);
  });

  it('puts a thought, a signed text and a signed image in Gemini 3 answers', async () => {
    for (const model of [PRO, NB21, LITE, FLASH31]) {
      const answer = json(await generate(model, prompt('a cat'))) as Answer;
      const candidate = answer.candidates?.[0];
      expect(candidate?.finishReason).toBe('STOP');
      expect(candidate?.index).toBe(0);
      expect(candidate?.content?.role).toBe('model');
      const parts = candidate?.content?.parts ?? [];
      expect(parts.map((p) => Object.keys(p).sort())).toEqual([['text', 'thought'], ['text', 'thoughtSignature'], ['inlineData', 'thoughtSignature']]);
      expect(parts[0]?.thought).toBe(true);
      expect(parts[2]?.inlineData).toEqual({ mimeType: 'image/png', data: mock.imageBase64() });
      expect(Buffer.from(parts[1]?.thoughtSignature ?? '', 'base64').length).toBeGreaterThan(16);
      expect(answer.modelVersion).toBe(model);
      expect(answer.responseId).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    }
  });

  it('shows interim thought images before the final one when asked to, whole and streamed (google-api.md §3, §5)', async () => {
    mock.setInterimImages(2);
    try {
      const parts = (json(await generate(PRO, prompt('a cat'))) as Answer).candidates?.[0]?.content?.parts ?? [];
      expect(parts.map((p) => Object.keys(p).sort())).toEqual([['text', 'thought'], ['inlineData', 'thought'], ['inlineData', 'thought'], ['text', 'thoughtSignature'], ['inlineData', 'thoughtSignature']]);
      expect(parts.slice(1, 3).map((p) => p.inlineData?.data)).toEqual([mock.interimImageBase64(0), mock.interimImageBase64(1)]);
      expect(new Set([mock.interimImageBase64(0), mock.interimImageBase64(1), mock.imageBase64()]).size).toBe(3);
      // Each a real PNG a client can decode.
      expect(Buffer.from(mock.interimImageBase64(1), 'base64').subarray(1, 4).toString('latin1')).toBe('PNG');
      const events = sseEvents(await call(mock.url, `/v1beta/models/${PRO}:streamGenerateContent?alt=sse`, { body: prompt('x') }));
      expect(events.map((e) => e.candidates?.[0]?.content?.parts?.map((p) => (p.inlineData ? (p.thought ? 'interim' : 'image') : p.thought ? 'thought' : 'text')))).toEqual([
        ['thought'],
        ['interim'],
        ['interim'],
        ['text'],
        ['image'],
      ]);
      // Text-only answers draw no drafts.
      const textOnly = json(await generate(PRO, prompt('x', { generationConfig: { responseModalities: ['TEXT'] } }))) as Answer;
      expect(textOnly.candidates?.[0]?.content?.parts?.some((p) => p.inlineData)).toBe(false);
    } finally {
      mock.setInterimImages(0);
    }
  });

  it('puts modelStatus LEGACY on the deprecated 3.1 Flash answers only (models-2026-11.md §5)', async () => {
    const legacy = json(await generate(FLASH31, prompt('a cat'))) as Answer;
    expect(legacy.modelStatus?.modelStage).toBe('LEGACY');
    for (const model of [PRO, NB21, LITE]) {
      expect((json(await generate(model, prompt('a cat'))) as Answer).modelStatus).toBeUndefined();
    }
    const events = sseEvents(await call(mock.url, `/v1beta/models/${FLASH31}:streamGenerateContent?alt=sse`, { body: prompt('x') }));
    expect(events.every((e) => e.modelStatus?.modelStage === 'LEGACY')).toBe(true);
  });

  it.each(RETIRED)('answers the shut-down %s with Google\'s 404, as it does any unknown model', async (model) => {
    const raw = await generate(model, prompt('a cat'));
    expect(raw.status).toBe(404);
    expect((json(raw) as { error: { message: string; status: string } }).error).toMatchObject({
      status: 'NOT_FOUND',
      message: `models/${model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`,
    });
  });

  it('serves a valid 1x1 PNG by default, and padded base64 of the configured length per size', async () => {
    const png = Buffer.from(mock.imageBase64(), 'base64');
    expect(png.subarray(0, 8).toString('base64')).toBe(TINY_PNG_BASE64);
    expect(png.readUInt32BE(16)).toBe(1);
    expect(mock.imageBase64('1K')).toBe(mock.imageBase64());
    for (const [size, bytes] of [['2K', 6000], ['4K', 20_000]] as const) {
      const b64 = mock.imageBase64(size);
      expect(b64.length).toBe(bytes);
      expect(b64).toMatch(/^[A-Za-z0-9+/]+=$/);
      expect(Buffer.from(b64, 'base64').subarray(0, 8).toString('base64')).toBe(TINY_PNG_BASE64);
      const answer = json(await generate(PRO, prompt('x', { generationConfig: { imageConfig: { imageSize: size } } }))) as Answer;
      expect(nonThought(answer).find((p) => p.inlineData)?.inlineData?.data).toBe(b64);
    }
    expect(mock.imageBase64('2K')).not.toBe(mock.imageBase64('4K'));
  });

  it('leaves out the text part when only IMAGE is asked for, and the image when only TEXT is', async () => {
    const imageOnly = json(await generate(PRO, prompt('x', { generationConfig: { responseModalities: ['IMAGE'] } }))) as Answer;
    expect(nonThought(imageOnly).map((p) => Object.keys(p).sort())).toEqual([['inlineData', 'thoughtSignature']]);
    expect(imageOnly.usageMetadata?.candidatesTokensDetails).toEqual([{ modality: 'IMAGE', tokenCount: 1120 }]);
    const textOnly = json(await generate(LITE, prompt('x', { generationConfig: { responseModalities: ['TEXT'] } }))) as Answer;
    expect(nonThought(textOnly).every((p) => p.inlineData === undefined)).toBe(true);
    const audio = await generate(LITE, prompt('x', { generationConfig: { responseModalities: ['AUDIO'] } }));
    expect(audio.status).toBe(400);
  });

  it('accepts the v1 path and ?key= as well', async () => {
    const raw = await call(mock.url, `/v1/models/${LITE}:generateContent?key=${KEY}`, { body: prompt('x'), key: null });
    expect(raw.status).toBe(200);
    expect(mock.received[0]?.query).toEqual({ key: KEY });
  });

  it('records every request with method, path, query, headers and the exact body bytes', async () => {
    const body = '{"contents":[{"parts":[{"text":"caf\\u00e9"}]}],  "unknownField": 1}';
    await call(mock.url, `/v1beta/models/${PRO}:generateContent`, { body, headers: { 'x-extra': 'yes' } });
    await call(mock.url, '/v1beta/models?pageSize=1');
    expect(mock.received.map((r) => [r.method, r.path])).toEqual([
      ['POST', `/v1beta/models/${PRO}:generateContent`],
      ['GET', '/v1beta/models'],
    ]);
    expect(mock.received[0]?.body.toString()).toBe(body);
    expect(mock.received[0]?.headers['x-extra']).toBe('yes');
    expect(mock.received[1]?.query).toEqual({ pageSize: '1' });
  });
});

describe('usageMetadata', () => {
  const image = { inlineData: { mimeType: 'image/png', data: TINY_PNG_BASE64 } };
  // Output tokens per image: pricing.md §2 and models-2026-11.md §3 (2.1: 1120 / 1680 / 3780;
  // Lite: 1120, 1K only). Input image tokens: pro 560, the others 1120 (config/models.yaml).
  it.each([
    { model: PRO, size: undefined, text: 'A banana in a spacesuit', images: 0, inputPerImage: 560, imageTokens: 1120 },
    { model: PRO, size: '2K', text: 'abc', images: 2, inputPerImage: 560, imageTokens: 1120 },
    { model: PRO, size: '4K', text: 'a'.repeat(401), images: 1, inputPerImage: 560, imageTokens: 2000 },
    { model: FLASH31, size: '512', text: 'abcd', images: 0, inputPerImage: 1120, imageTokens: 747 },
    { model: FLASH31, size: undefined, text: 'abcde', images: 3, inputPerImage: 1120, imageTokens: 1120 },
    { model: FLASH31, size: '2K', text: 'x', images: 1, inputPerImage: 1120, imageTokens: 1680 },
    { model: FLASH31, size: '4K', text: 'x', images: 0, inputPerImage: 1120, imageTokens: 2520 },
    { model: NB21, size: undefined, text: 'twelve chars', images: 2, inputPerImage: 1120, imageTokens: 1120 },
    { model: NB21, size: '2K', text: 'x', images: 0, inputPerImage: 1120, imageTokens: 1680 },
    { model: NB21, size: '4K', text: 'abc', images: 1, inputPerImage: 1120, imageTokens: 3780 },
    { model: LITE, size: undefined, text: 'abcdefghi', images: 1, inputPerImage: 1120, imageTokens: 1120 },
    { model: LITE, size: '1K', text: 'x', images: 0, inputPerImage: 1120, imageTokens: 1120 },
  ])('$model at $size with $images input images', async ({ model, size, text, images, inputPerImage, imageTokens }) => {
    const body = {
      contents: [{ role: 'user', parts: [{ text }, ...Array.from({ length: images }, () => image)] }],
      ...(size ? { generationConfig: { imageConfig: { imageSize: size } } } : {}),
    };
    const answer = json(await generate(model, body)) as Answer;
    const u = answer.usageMetadata!;
    const promptText = Math.ceil(text.length / 4);
    const replyTokens = ceil4(replyText(answer));
    // Every model Google serves today thinks (models-2026-11.md §2).
    const thoughts = ceil4(thoughtText(answer));
    expect(thoughts).toBeGreaterThan(0);
    expect(u.promptTokenCount).toBe(promptText + images * inputPerImage);
    expect(u.promptTokensDetails).toEqual([{ modality: 'TEXT', tokenCount: promptText }, ...(images > 0 ? [{ modality: 'IMAGE', tokenCount: images * inputPerImage }] : [])]);
    expect(u.candidatesTokenCount).toBe(replyTokens + imageTokens);
    expect(u.candidatesTokensDetails).toEqual([{ modality: 'TEXT', tokenCount: replyTokens }, { modality: 'IMAGE', tokenCount: imageTokens }]);
    expect(u.thoughtsTokenCount).toBe(thoughts);
    expect(u.totalTokenCount).toBe(u.promptTokenCount! + u.candidatesTokenCount! + (thoughts ?? 0));
  });

  it('counts the system instruction and snake_case parts, and omits a zero TEXT count', async () => {
    const imagesOnly = json(await generate(PRO, { contents: [{ parts: [{ inline_data: { mime_type: 'image/jpeg', data: TINY_PNG_BASE64 } }] }] })) as Answer;
    expect(imagesOnly.usageMetadata?.promptTokensDetails).toEqual([{ modality: 'IMAGE', tokenCount: 560 }]);
    const withSystem = json(await generate(PRO, prompt('abcd', { systemInstruction: { parts: [{ text: 'efgh' }] } }))) as Answer;
    expect(withSystem.usageMetadata?.promptTokenCount).toBe(2);
  });
});

describe('streamGenerateContent', () => {
  it('streams ?alt=sse as CRLF-framed compact events, each with the model, id and cumulative usage', async () => {
    const raw = await call(mock.url, `/v1beta/models/${PRO}:streamGenerateContent?alt=sse`, { body: prompt('a cat & a dog') });
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toBe('text/event-stream');
    expect(raw.text).toContain('\\u0026');
    const events = sseEvents(raw);
    for (const event of raw.text.split('\r\n\r\n').slice(0, -1)) {
      expect(event).not.toMatch(/"[A-Za-z]+":(?! )/);
      expect(event).not.toContain(', "');
    }
    expect(events.length).toBe(3);
    expect(new Set(events.map((e) => e.responseId)).size).toBe(1);
    expect(events.every((e) => e.modelVersion === PRO && e.usageMetadata?.promptTokenCount === 4)).toBe(true);
    expect(events.map((e) => e.candidates?.[0]?.finishReason)).toEqual([undefined, undefined, 'STOP']);
    expect(events[0]?.candidates?.[0]?.content?.parts?.[0]?.thought).toBe(true);
    expect(events[2]?.candidates?.[0]?.content?.parts?.[0]?.inlineData?.data).toBe(mock.imageBase64());
    const whole = json(await generate(PRO, prompt('a cat & a dog'))) as Answer;
    expect(events[2]?.usageMetadata).toEqual(whole.usageMetadata);
    const totals = events.map((e) => e.usageMetadata?.totalTokenCount ?? 0);
    expect(totals).toEqual([...totals].sort((a, b) => a - b));
  });

  it('sends the image chunk whole, even for a large image', async () => {
    const raw = await call(mock.url, `/v1beta/models/${FLASH31}:streamGenerateContent?alt=sse`, {
      body: prompt('x', { generationConfig: { imageConfig: { imageSize: '4K' } } }),
    });
    const images = sseEvents(raw).flatMap((e) => nonThought(e).map((p) => p.inlineData?.data).filter((d) => d !== undefined));
    expect(images).toEqual([mock.imageBase64('4K')]);
  });

  it('streams Lite as a thought, a text chunk, then the image with the final counts', async () => {
    const events = sseEvents(await call(mock.url, `/v1beta/models/${LITE}:streamGenerateContent?alt=sse`, { body: prompt('x') }));
    expect(events.map((e) => Object.keys(e.candidates?.[0]?.content?.parts?.[0] ?? {}).sort())).toEqual([['text', 'thought'], ['text', 'thoughtSignature'], ['inlineData', 'thoughtSignature']]);
    expect(events[0]?.usageMetadata?.candidatesTokenCount).toBeUndefined();
    expect(events[1]?.usageMetadata?.candidatesTokenCount).toBeUndefined();
    expect(events[2]?.usageMetadata?.candidatesTokensDetails?.find((d) => d.modality === 'IMAGE')?.tokenCount).toBe(1120);
  });

  it('without alt, writes one JSON array of pretty-printed answers separated by ,CRLF', async () => {
    const raw = await call(mock.url, `/v1beta/models/${PRO}:streamGenerateContent`, { body: prompt('x') });
    expect(raw.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(raw.text.startsWith('[{\n  "candidates": [')).toBe(true);
    expect(raw.text.endsWith('\n}]')).toBe(true);
    expect(raw.text.split('\n},\r\n{\n').length).toBe(3);
    const chunks = JSON.parse(raw.text) as Answer[];
    expect(chunks).toHaveLength(3);
    expect(chunks[2]?.candidates?.[0]?.finishReason).toBe('STOP');
  });
});

describe('countTokens and models', () => {
  it('counts the prompt the way generateContent bills it, in both request shapes', async () => {
    const contents = [{ parts: [{ text: 'abcdefgh' }, { inlineData: { mimeType: 'image/png', data: TINY_PNG_BASE64 } }] }];
    const plain = await call(mock.url, `/v1beta/models/${NB21}:countTokens`, { body: { contents } });
    expect(plain.status).toBe(200);
    expect(plain.text.endsWith('}\n')).toBe(true);
    expect(json(plain)).toEqual({ totalTokens: 1122, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 2 }, { modality: 'IMAGE', tokenCount: 1120 }] });
    const nested = await call(mock.url, `/v1beta/models/${PRO}:countTokens`, { body: { generateContentRequest: { model: `models/${PRO}`, contents } } });
    expect((json(nested) as { totalTokens: number }).totalTokens).toBe(562);
  });

  it('lists the image models page by page', async () => {
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const raw = await call(mock.url, `/v1beta/models?pageSize=2${token ? `&pageToken=${token}` : ''}`);
      const page = json(raw) as { models: Array<{ name: string; supportedGenerationMethods: string[] }>; nextPageToken?: string };
      expect(page.models.length).toBeLessThanOrEqual(2);
      names.push(...page.models.map((m) => m.name));
      token = page.nextPageToken;
      pages += 1;
    } while (token !== undefined);
    expect(pages).toBe(2);
    expect(names.sort()).toEqual([PRO, NB21, LITE, FLASH31].map((m) => `models/${m}`).sort());
    const bad = await call(mock.url, '/v1beta/models?pageToken=garbage');
    expect(bad.status).toBe(400);
  });

  it('gets one model, and 404s an unknown one with Google\'s message', async () => {
    const one = json(await call(mock.url, `/v1beta/models/${LITE}`)) as { name: string; inputTokenLimit: number; outputTokenLimit: number; thinking: boolean };
    // models-2026-11.md §2: Lite's limits are 65536 in, 4096 out.
    expect(one).toMatchObject({ name: `models/${LITE}`, inputTokenLimit: 65536, outputTokenLimit: 4096, thinking: true });
    expect((await call(mock.url, '/v1beta/models/gemini-3-pro-image-preview')).status).toBe(404);
    const missing = await generate('gemini-9-image', prompt('x'));
    expect(missing.status).toBe(404);
    expect(json(missing)).toEqual({
      error: {
        code: 404,
        message:
          'models/gemini-9-image is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.',
        status: 'NOT_FOUND',
      },
    });
    expect((await call(mock.url, '/v1/models/gemini-9-image')).status).toBe(404);
  });

  it('answers a wrong method or unknown API path with a Google 404 envelope, other paths with HTML', async () => {
    for (const [path, method] of [
      [`/v1beta/models/${PRO}:generateContent`, 'GET'],
      [`/v1beta/models/${PRO}:fooBar`, 'POST'],
      // (/v1beta/files is served since #16: the Files API.)
      ['/v1beta/cachedContents', 'GET'],
      ['/v1beta/models', 'DELETE'],
    ] as const) {
      const raw = await call(mock.url, path, { method, ...(method === 'POST' ? { body: prompt('x') } : {}) });
      expect(raw.status).toBe(404);
      expect(json(raw)).toEqual({ error: { code: 404, message: 'Method not found.', status: 'NOT_FOUND' } });
    }
    const html = await call(mock.url, '/nowhere');
    expect(html.status).toBe(404);
    expect(html.headers['content-type']).toBe('text/html; charset=UTF-8');
    expect(html.text).toContain('/nowhere');
  });
});

describe('API keys', () => {
  it('refuses a missing key with 403 PERMISSION_DENIED', async () => {
    const raw = await generate(PRO, prompt('x'), { key: null });
    expect(raw.status).toBe(403);
    expect(json(raw)).toEqual({
      error: {
        code: 403,
        message:
          'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.',
        status: 'PERMISSION_DENIED',
      },
    });
  });

  it('refuses an unknown key with 400 API_KEY_INVALID, on every route', async () => {
    const expected = {
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
          { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message: 'API key not valid. Please pass a valid API key.' },
        ],
      },
    };
    for (const raw of [
      await generate(PRO, prompt('x'), { key: 'nope' }),
      await call(mock.url, '/v1beta/models', { key: 'nope' }),
      await call(mock.url, `/v1beta/models/${PRO}:countTokens?key=nope`, { key: null, body: prompt('x') }),
    ]) {
      expect(raw.status).toBe(400);
      expect(json(raw)).toEqual(expected);
    }
  });

  it('accepts only the keys it was given', async () => {
    const other = await startMockGoogle({ apiKeys: ['k1', 'k2'] });
    try {
      expect((await call(other.url, '/v1beta/models', { key: 'k2' })).status).toBe(200);
      expect((await call(other.url, '/v1beta/models', { key: KEY })).status).toBe(400);
    } finally {
      await other.close();
    }
  });

  it('answers an OAuth bearer token without a key with 401 UNAUTHENTICATED', async () => {
    const raw = await call(mock.url, '/v1beta/models', { key: null, headers: { authorization: 'Bearer ya29.token' } });
    expect(raw.status).toBe(401);
    expect((json(raw) as { error: { status: string } }).error.status).toBe('UNAUTHENTICATED');
  });
});

describe('request validation', () => {
  it.each([
    [PRO, { imageSize: '1K' }, 200],
    [PRO, { imageSize: '2K' }, 200],
    [PRO, { imageSize: '4K' }, 200],
    [PRO, { imageSize: '512' }, 400],
    [PRO, { imageSize: '1k' }, 400],
    [FLASH31, { imageSize: '512' }, 200],
    [FLASH31, { imageSize: '4K' }, 200],
    [FLASH31, { imageSize: '8K' }, 400],
    [NB21, { imageSize: '512' }, 400],
    [NB21, { imageSize: '1K' }, 200],
    [NB21, { imageSize: '4K' }, 200],
    [LITE, { imageSize: '1K' }, 200],
    [LITE, { imageSize: '2K' }, 400],
    [LITE, { imageSize: '4K' }, 400],
    [LITE, { imageSize: '512' }, 400],
    [LITE, {}, 200],
    [PRO, { aspectRatio: '21:9' }, 200],
    [PRO, { aspectRatio: '1:4' }, 400],
    [FLASH31, { aspectRatio: '1:8', imageSize: '2K' }, 200],
    [FLASH31, { aspectRatio: '8:1' }, 200],
    [FLASH31, { aspectRatio: '7:3' }, 400],
    [NB21, { aspectRatio: '1:8' }, 200],
    [NB21, { aspectRatio: '4:1', imageSize: '4K' }, 200],
    [LITE, { aspectRatio: '4:1' }, 400],
    [LITE, { aspectRatio: '16:9' }, 200],
  ])('%s with imageConfig %j answers %i', async (model, imageConfig, status) => {
    const raw = await generate(model, prompt('x', { generationConfig: { imageConfig } }));
    expect(raw.status).toBe(status);
    if (status === 400) expect(json(raw)).toEqual({ error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } });
  });

  it('reads snake_case generation config too', async () => {
    const raw = await generate(PRO, prompt('x', { generation_config: { image_config: { image_size: '512' } } }));
    expect(raw.status).toBe(400);
  });

  it('refuses malformed JSON with Google\'s "Invalid JSON payload" envelope', async () => {
    const raw = await generate(PRO, '{"contents": [');
    expect(raw.status).toBe(400);
    const body = json(raw) as { error: { message: string; status: string; details: Array<{ '@type': string }> } };
    expect(body.error.status).toBe('INVALID_ARGUMENT');
    expect(body.error.message).toMatch(/^Invalid JSON payload received\./);
    expect(body.error.details[0]?.['@type']).toBe('type.googleapis.com/google.rpc.BadRequest');
    expect((json(await generate(PRO, '[1,2]')) as { error: { message: string } }).error.message).toMatch(/^Invalid JSON payload received\./);
  });

  it('refuses a request without contents', async () => {
    for (const body of ['', '{}', '{"contents": []}']) {
      const raw = await generate(PRO, body);
      expect(raw.status).toBe(400);
      expect(json(raw)).toEqual({ error: { code: 400, message: '* GenerateContentRequest.contents: contents is not specified\n', status: 'INVALID_ARGUMENT' } });
    }
  });

  it('refuses unsupported image types and broken base64', async () => {
    const gif = await generate(PRO, { contents: [{ parts: [{ inlineData: { mimeType: 'image/gif', data: TINY_PNG_BASE64 } }] }] });
    expect(gif.status).toBe(400);
    expect((json(gif) as { error: { message: string } }).error.message).toBe('Unsupported MIME type: image/gif');
    const broken = await generate(PRO, { contents: [{ parts: [{ text: 'x' }, { inlineData: { mimeType: 'image/png', data: 'not base64!' } }] }] });
    expect(broken.status).toBe(400);
    expect((json(broken) as { error: { message: string } }).error.message).toContain("'contents[0].parts[1].inline_data.data'");
  });
});

// No model Google serves today lacks thinking or a size option; the mock's answer code still
// handles one (a MockModel with `thinking: false` and no imageSizes, as 2.5 Flash Image was),
// so that code is checked here, without the server.
describe('answers of a model without thinking or a size option', () => {
  const FLASH25_LIKE: MockModel = {
    id: 'gemini-2.5-flash-image',
    version: '2.5',
    displayName: 'Nano Banana',
    description: 'Gemini 2.5 Flash Image',
    thinking: false,
    aspectRatios: ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'],
    imageSizes: [],
    // pricing.md §2: 1290 tokens per image, whatever the size.
    imageTokens: { '512': 1290, '1K': 1290, '2K': 1290, '4K': 1290 },
    inputImageTokens: 258,
    inputTokenLimit: 32768,
    outputTokenLimit: 32768,
  };
  const parse = (body: unknown) => parseGenerateRequest(FLASH25_LIKE, Buffer.from(JSON.stringify(body)));

  it('answers with a text and an image and no thought fields', () => {
    const input = parse(prompt('a cat'));
    if (!input.ok) throw new Error('refused');
    const answer = buildAnswer(FLASH25_LIKE, input.value, 'r-1', { kind: 'image' }).whole as Answer;
    const parts = answer.candidates?.[0]?.content?.parts ?? [];
    expect(parts.map((p) => Object.keys(p))).toEqual([['text'], ['inlineData']]);
    expect(answer.usageMetadata?.thoughtsTokenCount).toBeUndefined();
  });

  it('streams a text chunk, then the image with the final counts', () => {
    const input = parse(prompt('x'));
    if (!input.ok) throw new Error('refused');
    const events = buildAnswer(FLASH25_LIKE, input.value, 'r-2', { kind: 'image' }).chunks as Answer[];
    expect(events.map((e) => Object.keys(e.candidates?.[0]?.content?.parts?.[0] ?? {}))).toEqual([['text'], ['inlineData']]);
    expect(events[0]?.usageMetadata?.candidatesTokenCount).toBeUndefined();
    expect(events[1]?.usageMetadata?.candidatesTokensDetails?.find((d) => d.modality === 'IMAGE')?.tokenCount).toBe(1290);
  });

  it.each([
    [{ imageSize: '1K' }, false],
    [{}, true],
    [{ aspectRatio: '4:1' }, false],
    [{ aspectRatio: '16:9' }, true],
  ])('with imageConfig %j is accepted: %s', (imageConfig, ok) => {
    expect(parse(prompt('x', { generationConfig: { imageConfig } })).ok).toBe(ok);
  });
});
