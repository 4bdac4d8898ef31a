/**
 * The real @google/genai 3.x through the gateway on both API versions (#11 item 5): 3.x calls
 * /v1 unless `httpOptions.apiVersion` says otherwise, 2.x called /v1beta. Every call the SDK
 * makes (generate, stream, countTokens, list, get) must work on both, with the gateway's
 * names and Google always seeing the canonical id on the version the client used.
 */
import { GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/time/clock.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { GOOGLE_KEY, startGateway, TENANT_KEY, type RunningGateway } from '../support/gateway-harness.js';

let mock: MockGoogle;
let gw: RunningGateway;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY], imageBytes: { '2K': 20_000, default: 3000 } });
  gw = await startGateway({ upstreamUrl: mock.url, clock: new ManualClock('2026-11-28T12:00:00Z') });
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
});
beforeEach(() => mock.reset());

const generations = () => mock.received.filter((r) => /:(generateContent|streamGenerateContent|countTokens)$/.test(r.path));

describe.each([
  { label: 'v1, the 3.x default', apiVersion: undefined, version: 'v1' },
  { label: 'v1beta', apiVersion: 'v1beta', version: 'v1beta' },
])('@google/genai 3.x on $label', ({ apiVersion, version }) => {
  const client = () => new GoogleGenAI({ apiKey: TENANT_KEY, httpOptions: { baseUrl: gw.url, ...(apiVersion ? { apiVersion } : {}) } });

  it('generates an image under an alias, sent to the canonical model on the same version', async () => {
    const res = await client().models.generateContent({
      model: 'nano-banana-pro',
      contents: 'A banana in a spacesuit',
      config: { responseModalities: ['IMAGE'], imageConfig: { aspectRatio: '16:9', imageSize: '2K' } },
    });
    const image = res.candidates?.[0]?.content?.parts?.find((p) => p.inlineData && !p.thought)?.inlineData;
    expect(image?.data).toBe(mock.imageBase64('2K'));
    const [seen] = generations();
    expect(seen?.path).toBe(`/${version}/models/gemini-3-pro-image:generateContent`);
    expect(seen?.headers['x-goog-api-key']).toBe(GOOGLE_KEY);
    expect(JSON.parse(seen!.body.toString()).generationConfig.imageConfig).toEqual({ aspectRatio: '16:9', imageSize: '2K' });
  });

  it('streams as server-sent events and ends with the image', async () => {
    const stream = await client().models.generateContentStream({ model: 'nano-banana-2', contents: 'A watercolor banana' });
    const images: string[] = [];
    let finishReason: string | undefined;
    for await (const chunk of stream) {
      finishReason = chunk.candidates?.[0]?.finishReason ?? finishReason;
      for (const p of chunk.candidates?.[0]?.content?.parts ?? []) if (p.inlineData?.data && !p.thought) images.push(p.inlineData.data);
    }
    expect(images).toEqual([mock.imageBase64()]);
    expect(finishReason).toBe('STOP');
    expect(generations()[0]?.path).toBe(`/${version}/models/gemini-nano-banana-2.1:streamGenerateContent`);
    expect(generations()[0]?.query['alt']).toBe('sse');
  });

  it('serves a retired name through its replacement', async () => {
    const res = await client().models.generateContent({ model: 'gemini-3-pro-image-preview', contents: 'A banana' });
    expect(res.candidates?.[0]?.finishReason).toBe('STOP');
    expect(generations()[0]?.path).toBe(`/${version}/models/gemini-3-pro-image:generateContent`);
  });

  it('counts tokens', async () => {
    const counted = await client().models.countTokens({ model: 'nano-banana', contents: 'hello there' });
    expect(counted.totalTokens).toBeGreaterThan(0);
    expect(generations()[0]?.path).toBe(`/${version}/models/gemini-3.1-flash-lite-image:countTokens`);
  });

  it('lists the served models over every page, and gets one by alias', async () => {
    const names: string[] = [];
    for await (const m of await client().models.list({ config: { pageSize: 3 } })) names.push(m.name ?? '');
    expect(names).toEqual(['models/gemini-3-pro-image', 'models/gemini-nano-banana-2.1', 'models/gemini-3.1-flash-lite-image', 'models/gemini-3.1-flash-image']);
    const one = await client().models.get({ model: 'nano-banana-pro' });
    expect(one.name).toBe('models/gemini-3-pro-image');
    expect(one.displayName).toBe('Nano Banana Pro');
    // Listing is the gateway's own: nothing reached Google.
    expect(mock.received).toEqual([]);
  });
});
