import { GoogleGenAI } from '@google/genai';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { prettyJson, rateLimitError } from '../mock-google/wire.js';
import { GOOGLE_KEY, OTHER_TENANT_KEY, TENANT_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

let mock: MockGoogle;
let gw: RunningGateway;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
  gw = await startGateway({ upstreamUrl: mock.url });
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
});
beforeEach(() => mock.reset());

const generationRequests = () => mock.received.filter((r) => r.path.includes(':generateContent') || r.path.includes(':streamGenerateContent'));

function post(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
  return request(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY, ...headers },
    body,
  });
}

describe('native face with the real @google/genai client', () => {
  const client = () => new GoogleGenAI({ apiKey: TENANT_KEY, httpOptions: { baseUrl: gw.url } });

  it('relays generateContent under an alias to the canonical model with the project key', async () => {
    const res = await client().models.generateContent({
      model: 'nano-banana-pro',
      contents: 'A banana in a spacesuit',
      config: { responseModalities: ['IMAGE'], imageConfig: { aspectRatio: '16:9', imageSize: '2K' } },
    });
    const image = res.candidates?.[0]?.content?.parts?.find((p) => p.inlineData && !p.thought)?.inlineData;
    expect(image?.data).toBe(mock.imageBase64('2K'));
    const [seen] = generationRequests();
    // @google/genai 3.x calls /v1 by default; the gateway relays the version the client used.
    expect(seen?.path).toBe('/v1/models/gemini-3-pro-image:generateContent');
    expect(seen?.headers['x-goog-api-key']).toBe(GOOGLE_KEY);
    const sent = JSON.parse(seen!.body.toString());
    expect(sent.generationConfig.imageConfig).toEqual({ aspectRatio: '16:9', imageSize: '2K' });
  });

  it('streams generateContentStream as server-sent events and ends with the image', async () => {
    const stream = await client().models.generateContentStream({ model: 'nano-banana-2', contents: 'A watercolor banana' });
    const images: string[] = [];
    let last;
    for await (const chunk of stream) {
      last = chunk;
      for (const p of chunk.candidates?.[0]?.content?.parts ?? []) if (p.inlineData?.data && !p.thought) images.push(p.inlineData.data);
    }
    expect(images).toEqual([mock.imageBase64()]);
    expect(last?.usageMetadata?.candidatesTokenCount).toBeGreaterThan(0);
    expect(generationRequests()[0]?.path).toBe('/v1/models/gemini-nano-banana-2.1:streamGenerateContent');
    expect(generationRequests()[0]?.query['alt']).toBe('sse');
  });

  it('relays countTokens and the model list', async () => {
    const counted = await client().models.countTokens({ model: 'nano-banana', contents: 'hello there' });
    expect(counted.totalTokens).toBeGreaterThan(0);
    const list = await client().models.list();
    const names: string[] = [];
    for await (const m of list) names.push(m.name ?? '');
    expect(names).toContain('models/gemini-3-pro-image');
    const one = await client().models.get({ model: 'nano-banana-pro' });
    expect(one.name).toBe('models/gemini-3-pro-image');
  });
});

describe('native face on the wire', () => {
  it('forwards the body byte for byte, unknown fields and odd spacing included', async () => {
    const body = Buffer.from('{ "contents" : [{"parts":[{"text":"x\\u00e9"}]}],\n "futureField": {"a":[1,2,3]},\t"generationConfig":{"imageConfig":{"imageSize":"4K","aspectRatio":"21:9"},"seed":7} }');
    const res = await post('/v1beta/models/google/gemini-3-pro-image:generateContent', body);
    expect(res.statusCode).toBe(200);
    await res.body.arrayBuffer();
    const seen = generationRequests()[0]!;
    expect(seen.body.equals(body)).toBe(true);
    expect(seen.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
  });

  it('never forwards the tenant key, and takes ?key= and Bearer too', async () => {
    const variants: Array<Record<string, string>> = [{ 'x-goog-api-key': '' }, { 'x-goog-api-key': '', authorization: `Bearer ${OTHER_TENANT_KEY}` }];
    for (const headers of variants) {
      const path = headers['authorization'] ? '/v1/models/nano-banana:generateContent' : `/v1beta/models/nano-banana:generateContent?key=${TENANT_KEY}`;
      const res = await post(path, JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }), headers);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    for (const r of mock.received) {
      const everything = JSON.stringify(r.headers) + JSON.stringify(r.query) + r.path;
      expect(everything).not.toContain(TENANT_KEY);
      expect(everything).not.toContain(OTHER_TENANT_KEY);
      expect(r.headers['x-goog-api-key']).toBe(GOOGLE_KEY);
      expect(r.query['key']).toBeUndefined();
    }
    expect(mock.received[1]?.path).toBe('/v1/models/gemini-3.1-flash-lite-image:generateContent');
  });

  it('puts the model and request id on every relayed answer, and the cost in a trailer when asked', async () => {
    const res = await post('/v1beta/models/nano-banana-pro:generateContent', JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }), {
      te: 'trailers',
      'x-request-id': 'req-from-client-1',
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-nanogate-model']).toBe('gemini-3-pro-image');
    expect(res.headers['x-request-id']).toBe('req-from-client-1');
    // Google's content headers pass; its server's own do not.
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['server']).toBeUndefined();
    const text = await res.body.text();
    expect(JSON.parse(text).candidates).toBeDefined();
    expect(res.trailers['x-nanogate-cost-usd']).toMatch(/^0\.\d{6}$/);
    expect(Number(res.trailers['x-nanogate-cost-usd'])).toBeGreaterThan(0.1);
  });

  it('relays streamGenerateContent without alt as Google\'s JSON array', async () => {
    const res = await post('/v1beta/models/nano-banana:streamGenerateContent', JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }));
    expect(res.statusCode).toBe(200);
    const arr = JSON.parse(await res.body.text());
    expect(Array.isArray(arr)).toBe(true);
    expect(arr.at(-1).usageMetadata.totalTokenCount).toBeGreaterThan(0);
  });

  it('relays a Google 400 unchanged, at no cost, without retrying it', async () => {
    const google = { error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } };
    mock.enqueue({ kind: 'status', status: 400, body: google });
    const bad = await post('/v1beta/models/nano-banana:generateContent', JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }));
    expect(bad.statusCode).toBe(400);
    expect(await bad.body.text()).toBe(prettyJson(google));
    expect(bad.headers['x-nanogate-cost-usd']).toBe('0.000000');
    expect(generationRequests()).toHaveLength(1);
  });

  it('relays a Google 429 unchanged and never retries it: the model cools down instead', async () => {
    // A model no other test in this file uses: the cool-down this 429 starts outlives the test.
    const model = 'gemini-3.1-flash-image';
    // No RetryInfo: a retry would come after a short backoff (a long RetryInfo alone stops one), and the cool-down lasts 60 s.
    mock.enqueue({ kind: 'rateLimit' });
    const body = JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] });
    const limited = await post(`/v1beta/models/${model}:generateContent`, body);
    expect(limited.statusCode).toBe(429);
    // Byte for byte what Google sent; a retry would have got the mock's next answer, an image.
    expect(await limited.body.text()).toBe(prettyJson(rateLimitError({ model })));
    expect(limited.headers['x-nanogate-cost-usd']).toBe('0.000000');
    expect(generationRequests()).toHaveLength(1);

    // The cool-down (contract §7): refused by the gateway itself, for 60 s without a retryDelay.
    const cooling = await post(`/v1beta/models/${model}:generateContent`, body);
    expect(cooling.statusCode).toBe(429);
    const refusal = (await cooling.body.json()) as { error: { status: string; details: Array<Record<string, unknown>> } };
    expect(refusal.error.status).toBe('RESOURCE_EXHAUSTED');
    const retryDelay = refusal.error.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo')?.['retryDelay'];
    expect(Number(String(retryDelay).replace(/s$/, ''))).toBeGreaterThan(30);
    expect(generationRequests()).toHaveLength(1);
  });

  it('retries a 503 and answers with the retry\'s image', async () => {
    mock.enqueue({ kind: 'unavailable' });
    const res = await post('/v1beta/models/nano-banana:generateContent', JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }));
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(generationRequests()).toHaveLength(2);
  });
});

describe('bad input on the native face', () => {
  const good = JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] });
  it.each([
    ['no key', '/v1beta/models/nano-banana:generateContent', good, { 'x-goog-api-key': '' }, 401, 'UNAUTHENTICATED'],
    ['an unknown key', '/v1beta/models/nano-banana:generateContent', good, { 'x-goog-api-key': 'nope' }, 401, 'UNAUTHENTICATED'],
    ['an unknown model', '/v1beta/models/dall-e-3:generateContent', good, {}, 404, 'NOT_FOUND'],
    ['malformed JSON', '/v1beta/models/nano-banana:generateContent', '{"contents": [', {}, 400, 'INVALID_ARGUMENT'],
    ['an empty body', '/v1beta/models/nano-banana:generateContent', '', {}, 400, 'INVALID_ARGUMENT'],
    ['a JSON array body', '/v1beta/models/nano-banana:generateContent', '[1,2]', {}, 400, 'INVALID_ARGUMENT'],
    ['contents of the wrong type', '/v1beta/models/nano-banana:generateContent', '{"contents":"hi"}', {}, 400, 'INVALID_ARGUMENT'],
    ['imageSize of the wrong type', '/v1beta/models/nano-banana:generateContent', '{"contents":[{"parts":[]}],"generationConfig":{"imageConfig":{"imageSize":4}}}', {}, 400, 'INVALID_ARGUMENT'],
    ['an unknown method', '/v1beta/models/nano-banana:embedContent', good, {}, 404, 'NOT_FOUND'],
    ['an unknown route', '/v1beta/nothing/here', good, {}, 404, 'NOT_FOUND'],
  ])('answers %s in Google\'s envelope and sends nothing to Google', async (_name, path, body, headers, status, googleStatus) => {
    const res = await post(path, body, headers as Record<string, string>);
    expect(res.statusCode).toBe(status);
    const json = (await res.body.json()) as { error: { code: number; status: string; message: string } };
    expect(json.error.code).toBe(status);
    expect(json.error.status).toBe(googleStatus);
    expect(json.error.message).not.toMatch(/at .*\.ts:\d+/);
    expect(mock.received).toHaveLength(0);
  });

  it('lists the served names when the model is unknown', async () => {
    const res = await post('/v1beta/models/gemini-9-image:generateContent', good);
    const json = (await res.body.json()) as { error: { message: string } };
    expect(json.error.message).toContain('nano-banana-pro');
    expect(json.error.message).toContain('gemini-3-pro-image');
    expect(json.error.message).toContain('gemini-nano-banana-2.1');
    // A shut-down id still routes, but it is not offered.
    expect(json.error.message).not.toContain('gemini-3-pro-image-preview');
  });

  it('answers a wrong method with 405 and Allow', async () => {
    const res = await request(`${gw.url}/v1beta/models`, { method: 'DELETE', headers: { 'x-goog-api-key': TENANT_KEY } });
    expect(res.statusCode).toBe(405);
    expect(res.headers['allow']).toBe('GET');
    expect(((await res.body.json()) as { error: { code: number } }).error.code).toBe(405);
  });
});

describe('logs', () => {
  it('never contain a tenant key or the Google key', async () => {
    await (await post('/v1beta/models/nano-banana:generateContent', JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }))).body.dump();
    await (await post(`/v1beta/models/nano-banana:generateContent?key=${OTHER_TENANT_KEY}`, '{}', { 'x-goog-api-key': '' })).body.dump();
    await (await post('/v1beta/models/nano-banana:generateContent', '{', { 'x-goog-api-key': 'wrong-key-value' })).body.dump();
    const all = gw.logs.join('');
    expect(all).toContain('"msg":"request"');
    for (const secret of [TENANT_KEY, OTHER_TENANT_KEY, GOOGLE_KEY, 'wrong-key-value']) expect(all).not.toContain(secret);
  });
});
