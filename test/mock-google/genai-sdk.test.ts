import { ApiError, GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KEY } from './client.js';
import { startMockGoogle, type MockGoogle } from './server.js';

let mock: MockGoogle;
beforeAll(async () => {
  mock = await startMockGoogle({ imageBytes: { '2K': 40_000, default: 3000 } });
});
afterAll(() => mock.close());
beforeEach(() => mock.reset());

const client = () => new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: mock.url } });

describe('the real @google/genai SDK against the mock', () => {
  it('generates an image with generateContent', async () => {
    const res = await client().models.generateContent({
      model: 'gemini-3-pro-image',
      contents: 'A banana in a spacesuit',
      config: { responseModalities: ['TEXT', 'IMAGE'], imageConfig: { aspectRatio: '16:9', imageSize: '2K' } },
    });
    const parts = res.candidates?.[0]?.content?.parts ?? [];
    const image = parts.find((p) => p.inlineData && !p.thought)?.inlineData;
    expect(image?.mimeType).toBe('image/png');
    expect(image?.data).toBe(mock.imageBase64('2K'));
    expect(res.usageMetadata?.candidatesTokenCount).toBeGreaterThanOrEqual(1120);
    // @google/genai 3.x calls /v1 by default (2.x called /v1beta); the mock answers both, as Google does.
    expect(mock.received[0]?.path).toBe('/v1/models/gemini-3-pro-image:generateContent');
    expect(mock.received[0]?.headers['x-goog-api-key']).toBe(KEY);
  });

  it('streams with generateContentStream and ends with the image', async () => {
    const stream = await client().models.generateContentStream({ model: 'gemini-nano-banana-2.1', contents: 'A watercolor banana' });
    const images: string[] = [];
    let chunks = 0;
    let finishReason: string | undefined;
    for await (const chunk of stream) {
      chunks += 1;
      finishReason = chunk.candidates?.[0]?.finishReason ?? finishReason;
      for (const p of chunk.candidates?.[0]?.content?.parts ?? []) if (p.inlineData?.data && !p.thought) images.push(p.inlineData.data);
    }
    expect(chunks).toBe(3);
    expect(images).toEqual([mock.imageBase64()]);
    expect(finishReason).toBe('STOP');
    expect(mock.received[0]?.query['alt']).toBe('sse');
  });

  it('counts tokens, lists and gets models', async () => {
    const counted = await client().models.countTokens({ model: 'gemini-3.1-flash-lite-image', contents: 'hello there!' });
    expect(counted.totalTokens).toBe(3);
    const names: string[] = [];
    for await (const m of await client().models.list({ config: { pageSize: 2 } })) names.push(m.name ?? '');
    expect(names).toHaveLength(4);
    expect(names).toContain('models/gemini-3-pro-image');
    expect(names).not.toContain('models/gemini-3-pro-image-preview');
    const one = await client().models.get({ model: 'gemini-nano-banana-2.1' });
    expect(one.name).toBe('models/gemini-nano-banana-2.1');
  });

  it('surfaces the mock\'s 429 as an ApiError', async () => {
    mock.enqueue({ kind: 'rateLimit', retryDelay: '7s' });
    const err = await client()
      .models.generateContent({ model: 'gemini-3.1-flash-lite-image', contents: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(429);
    expect((err as ApiError).message).toContain('RESOURCE_EXHAUSTED');
  });
});
