/**
 * #11 item 5, fidelity found with real clients: the legacy `@google/generative-ai` SDK's
 * countTokens names the model inside the body, which the gateway makes canonical (its only body
 * rewrite); native quota refusals name the model in quotaDimensions as Google does; the model
 * list names only the methods the gateway serves. Through the real gateway and the mock Google.
 */
import { GoogleGenerativeAI } from '@google/generative-ai';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/time/clock.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { defaultConfigYaml, GOOGLE_KEY, startGateway, TENANT_KEY, type RunningGateway } from '../support/gateway-harness.js';

let mock: MockGoogle;
let gw: RunningGateway | undefined;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => mock.reset());
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const TODAY = '2026-11-28T12:00:00Z';
const counted = () => mock.received.filter((r) => r.path.endsWith(':countTokens'));

function post(g: RunningGateway, path: string, body: string | Buffer) {
  return request(`${g.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY }, body });
}

describe('countTokens from the legacy @google/generative-ai SDK', () => {
  it.each([
    ['v1beta (its default)', undefined, 'nano-banana-pro', 'gemini-3-pro-image'],
    ['v1', 'v1', 'nano-banana-2', 'gemini-nano-banana-2.1'],
    ['v1beta, a retired name', undefined, 'gemini-3-pro-image-preview', 'gemini-3-pro-image'],
  ])('reaches Google naming the canonical model in the body too, on %s', async (_, apiVersion, asked, canonical) => {
    gw = await startGateway({ upstreamUrl: mock.url, clock: new ManualClock(TODAY) });
    const model = new GoogleGenerativeAI(TENANT_KEY).getGenerativeModel({ model: asked }, { baseUrl: gw.url, ...(apiVersion ? { apiVersion } : {}) });
    const result = await model.countTokens('How many tokens is a banana in a spacesuit?');
    expect(result.totalTokens).toBeGreaterThan(0);
    const [seen] = counted();
    expect(seen?.path).toBe(`/${apiVersion ?? 'v1beta'}/models/${canonical}:countTokens`);
    expect(seen?.headers['x-goog-api-key']).toBe(GOOGLE_KEY);
    const sent = JSON.parse(seen!.body.toString()) as { generateContentRequest: { model: string; contents: unknown } };
    // The SDK wrote `models/<asked>`: Google sees the model it is called for, not the alias.
    expect(sent.generateContentRequest.model).toBe(`models/${canonical}`);
    expect(sent.generateContentRequest.contents).toEqual([{ role: 'user', parts: [{ text: 'How many tokens is a banana in a spacesuit?' }] }]);
  });

  it('generates through the gateway with the same SDK', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, clock: new ManualClock(TODAY) });
    const model = new GoogleGenerativeAI(TENANT_KEY).getGenerativeModel({ model: 'nano-banana-2-lite' }, { baseUrl: gw.url });
    const result = await model.generateContent('A banana in a spacesuit');
    const image = result.response.candidates?.[0]?.content.parts.find((p) => p.inlineData)?.inlineData;
    expect(image?.mimeType).toBe('image/png');
    expect(mock.received.at(-1)?.path).toBe('/v1beta/models/gemini-3.1-flash-lite-image:generateContent');
  });
});

describe('the countTokens body rewrite', () => {
  it('changes only the model string: every other byte is forwarded as sent', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, clock: new ManualClock(TODAY) });
    const before = '{ "generateContentRequest" :{"contents":[{"parts":[{"text":"model: nano-banana-pro \\u00e9"}]}],\n\t"model" : "models/';
    const after = '", "generationConfig":{"imageConfig":{"imageSize":"2K"}}}, "future": [1, 2] }';
    const res = await post(gw, '/v1beta/models/nano-banana-pro:countTokens', before + 'nano-banana-pro' + after);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(counted()[0]!.body.toString()).toBe(before + 'gemini-3-pro-image' + after);
  });

  it.each([
    ['a CountTokensRequest with contents only', '{"contents":[{"parts":[{"text":"generateContentRequest model"}]}]}'],
    ['a model that is already canonical', '{"generateContentRequest":{"model":"models/gemini-3-pro-image","contents":[{"parts":[{"text":"hi"}]}]}}'],
    ['a model that is not a string', '{"generateContentRequest":{"model":7,"contents":[{"parts":[{"text":"hi"}]}]}}'],
    ['a model member that is not in generateContentRequest', '{"contents":[{"parts":[{"text":"hi"}]}],"extra":{"generateContentRequest":{"model":"models/nano-banana-pro"}}}'],
  ])('forwards %s byte for byte', async (_, body) => {
    gw = await startGateway({ upstreamUrl: mock.url, clock: new ManualClock(TODAY) });
    const res = await post(gw, '/v1beta/models/nano-banana-pro:countTokens', body);
    await res.body.dump();
    expect(counted()[0]!.body.toString()).toBe(body);
  });

  it('leaves a generateContent body untouched, even one that names a model', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, clock: new ManualClock(TODAY) });
    const body = '{"contents":[{"parts":[{"text":"hi"}]}],"generateContentRequest":{"model":"models/nano-banana-pro"}}';
    const res = await post(gw, '/v1beta/models/nano-banana-pro:generateContent', body);
    await res.body.dump();
    expect(mock.received.at(-1)!.body.toString()).toBe(body);
  });
});

describe('native quota refusals', () => {
  it('name the canonical model in quotaDimensions, as Google does, whatever name the call used', async () => {
    const config = defaultConfigYaml(mock.url, '$DB_PATH').replace('    tier: tier3\n', '    tier: tier3\n    limits:\n      gemini-3-pro-image: { rpm: 1 }\n');
    expect(config).toContain('rpm: 1');
    gw = await startGateway({ upstreamUrl: mock.url, clock: new ManualClock(TODAY), configYaml: config });
    const body = JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] });
    const first = await post(gw, '/v1beta/models/nano-banana-pro:generateContent', body);
    expect(first.statusCode).toBe(200);
    await first.body.dump();
    const refused = await post(gw, '/v1beta/models/models/NANO-BANANA-PRO:generateContent', body);
    expect(refused.statusCode).toBe(429);
    const json = (await refused.body.json()) as { error: { status: string; message: string; details: Array<Record<string, unknown>> } };
    expect(json.error.status).toBe('RESOURCE_EXHAUSTED');
    expect(json.error.details[0]).toMatchObject({
      '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
      violations: [{ quotaDimensions: { location: 'global', model: 'gemini-3-pro-image' }, quotaValue: '1' }],
    });
    expect(json.error.message).toContain('model: gemini-3-pro-image');
  });
});

describe('supportedGenerationMethods in the model list', () => {
  // Every model of the table takes batches (#16): batchGenerateContent is served too.
  const SERVED = ['generateContent', 'countTokens', 'batchGenerateContent'];

  it('names only what the gateway serves, on every page of /v1beta/models, on /v1/models and on one model', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, clock: new ManualClock(TODAY) });
    const get = async (path: string) => {
      const res = await request(`${gw!.url}${path}`, { headers: { 'x-goog-api-key': TENANT_KEY } });
      expect(res.statusCode).toBe(200);
      return (await res.body.json()) as Record<string, unknown>;
    };
    const models: Array<Record<string, unknown>> = [];
    let token: string | undefined;
    do {
      const page = await get(`/v1beta/models?pageSize=2${token ? `&pageToken=${token}` : ''}`);
      models.push(...(page['models'] as Array<Record<string, unknown>>));
      token = page['nextPageToken'] as string | undefined;
    } while (token);
    expect(models.map((m) => m['name'])).toEqual([
      'models/gemini-3-pro-image',
      'models/gemini-nano-banana-2.1',
      'models/gemini-3.1-flash-lite-image',
      'models/gemini-3.1-flash-image',
    ]);
    for (const m of models) expect(m['supportedGenerationMethods']).toEqual(SERVED);
    const v1 = (await get('/v1/models'))['models'] as Array<Record<string, unknown>>;
    for (const m of v1) expect(m['supportedGenerationMethods']).toEqual(SERVED);
    expect((await get('/v1beta/models/nano-banana-pro'))['supportedGenerationMethods']).toEqual(SERVED);
  });
});
