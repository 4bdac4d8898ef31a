import OpenAI, { toFile } from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { GOOGLE_KEY, TENANT_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

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

const client = (apiKey = TENANT_KEY) => new OpenAI({ apiKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const sentBodies = () => mock.received.filter((r) => r.path.includes(':generateContent')).map((r) => JSON.parse(r.body.toString()));

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  throw new Error('expected an API error');
}

describe('OpenAI face with the real openai client', () => {
  it('generates an image through images.generate with the canonical model and mapped size', async () => {
    const res = await client().images.generate({ model: 'nano-banana-pro', prompt: 'A banana in a spacesuit', size: '1536x1024' });
    expect(res.data?.[0]?.b64_json).toBe(mock.imageBase64('1K'));
    expect(res.created).toBeGreaterThan(0);
    expect(res.usage?.output_tokens).toBeGreaterThan(0);
    // A six-decimal string on this face (#13.5), as the header.
    expect((res.usage as unknown as { cost_usd: string }).cost_usd).toMatch(/^0\.\d{6}$/);
    expect(Number((res.usage as unknown as { cost_usd: string }).cost_usd)).toBeGreaterThan(0.1);
    const [body] = sentBodies();
    expect(mock.received[0]?.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
    expect(body.contents[0].parts[0].text).toBe('A banana in a spacesuit');
    expect(body.generationConfig.imageConfig).toEqual({ aspectRatio: '3:2', imageSize: '1K' });
  });

  it('uses the default model when none is named, and 1K/2K/4K sizes directly', async () => {
    await client().images.generate({ prompt: 'x', size: '4K' as never });
    expect(mock.received[0]?.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
    expect(sentBodies()[0].generationConfig.imageConfig).toEqual({ imageSize: '4K' });
  });

  it('makes n concurrent upstream calls and returns n images', async () => {
    const res = await client().images.generate({ model: 'nano-banana-2', prompt: 'three bananas', n: 3 });
    expect(res.data).toHaveLength(3);
    expect(sentBodies()).toHaveLength(3);
  });

  it('returns the images that succeeded when some of n fail', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_SAFETY' });
    const res = await client().images.generate({ model: 'nano-banana-2', prompt: 'two bananas', n: 2 });
    expect(res.data).toHaveLength(1);
  });

  it('maps a safety block to content_policy_violation', async () => {
    mock.enqueue({ kind: 'promptBlocked', blockReason: 'PROHIBITED_CONTENT' });
    const err = await apiError(client().images.generate({ model: 'nano-banana-2', prompt: 'bad' }));
    expect(err.status).toBe(400);
    expect(err.code).toBe('content_policy_violation');
  });

  it('maps IMAGE_OTHER to a 502 naming Google\'s reason', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_OTHER' });
    const err = await apiError(client().images.generate({ model: 'nano-banana-2', prompt: 'x' }));
    expect(err.status).toBe(502);
    expect(err.message).toContain('IMAGE_OTHER');
  });

  it('maps Google\'s 429 to rate_limit_exceeded with retry-after', async () => {
    mock.enqueue({ kind: 'rateLimit', retryDelay: '7s' });
    const err = await apiError(client().images.generate({ model: 'nano-banana', prompt: 'x' }));
    expect(err.status).toBe(429);
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.headers?.get('retry-after')).toBe('7');
  });

  it('sends reference images of an edit as inlineData parts', async () => {
    const png = Buffer.from(mock.imageBase64(), 'base64');
    const res = await client().images.edit({
      model: 'nano-banana-2',
      prompt: 'Make it pop art',
      image: [await toFile(png, 'a.png', { type: 'image/png' }), await toFile(png, 'b.png', { type: 'image/png' })],
    });
    expect(res.data?.[0]?.b64_json).toBe(mock.imageBase64());
    const parts = sentBodies()[0].contents[0].parts;
    expect(parts[0].text).toBe('Make it pop art');
    expect(parts.slice(1).map((p: { inlineData: { data: string } }) => p.inlineData.data)).toEqual([mock.imageBase64(), mock.imageBase64()]);
  });

  it('lists models in OpenAI\'s shape', async () => {
    const ids: string[] = [];
    for await (const m of client().models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining(['nano-banana-pro', 'gemini-3-pro-image', 'nano-banana-2', 'gemini-nano-banana-2.1', 'nano-banana-2-lite', 'gemini-3.1-flash-lite-image']));
    // Shut-down ids still route (to their replacement) but are not offered.
    expect(ids).not.toContain('gemini-3-pro-image-preview');
    expect(ids).not.toContain('gemini-2.5-flash-image');
  });

  it('puts the cost in a header and the body', async () => {
    const res = await request(`${gw.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TENANT_KEY}`, 'content-type': 'application/json' },
      // nano-banana-2: the 429 test above put nano-banana into its cool-down.
      body: JSON.stringify({ model: 'nano-banana-2', prompt: 'x' }),
    });
    expect(res.statusCode).toBe(200);
    const json = (await res.body.json()) as { usage: { cost_usd: string } };
    expect(res.headers['x-nanogate-cost-usd']).toMatch(/^0\.\d{6}$/);
    expect(res.headers['x-nanogate-cost-usd']).toBe(json.usage.cost_usd);
    expect(res.headers['x-nanogate-model']).toBe('gemini-nano-banana-2.1');
  });
});

describe('bad input on the OpenAI face', () => {
  it.each([
    ['an unknown key', { prompt: 'x' }, 'bad-key', 401, 'invalid_api_key', null],
    ['an unknown model', { model: 'dall-e-3', prompt: 'x' }, TENANT_KEY, 404, 'model_not_found', null],
    ['a missing prompt', { model: 'nano-banana' }, TENANT_KEY, 400, undefined, 'prompt'],
    ['n above 10', { model: 'nano-banana', prompt: 'x', n: 11 }, TENANT_KEY, 400, undefined, 'n'],
    ['n of the wrong type', { model: 'nano-banana', prompt: 'x', n: 'two' }, TENANT_KEY, 400, undefined, 'n'],
    ['an unknown response_format', { model: 'nano-banana', prompt: 'x', response_format: 'gif' }, TENANT_KEY, 400, undefined, 'response_format'],
    ['4K on a 1K-only model (nano-banana: Nano Banana 2 Lite)', { model: 'nano-banana', prompt: 'x', size: '4K' }, TENANT_KEY, 400, undefined, 'size'],
    ['512 on Nano Banana 2.1, which lacks it', { model: 'nano-banana-2', prompt: 'x', size: '512' }, TENANT_KEY, 400, undefined, 'size'],
  ])('refuses %s in OpenAI\'s shape and sends nothing to Google', async (_name, body, key, status, code, param) => {
    const err = await apiError(client(key).images.generate(body as never));
    expect(err.status).toBe(status);
    if (code !== undefined) expect(err.code).toBe(code);
    if (param) expect(err.param).toBe(param);
    expect(mock.received).toHaveLength(0);
  });

  it('answers malformed JSON, unknown routes, wrong methods and non-multipart edits in OpenAI\'s shape', async () => {
    const cases: Array<[string, string, string | undefined, Record<string, string>, number]> = [
      ['POST', '/v1/images/generations', '{"prompt":', { 'content-type': 'application/json' }, 400],
      ['POST', '/v1/images/variations', '{}', { 'content-type': 'application/json' }, 404],
      ['GET', '/v1/images/generations', undefined, {}, 405],
      // JSON edits take their images as image_url (#14.6): none given is a 400.
      ['POST', '/v1/images/edits', '{"prompt":"x"}', { 'content-type': 'application/json' }, 400],
      ['POST', '/v1/images/edits', 'prompt=x', { 'content-type': 'text/plain' }, 415],
    ];
    for (const [method, path, body, headers, status] of cases) {
      const res = await request(`${gw.url}${path}`, { method: method as 'GET', headers: { authorization: `Bearer ${TENANT_KEY}`, ...headers }, body });
      expect(res.statusCode, `${method} ${path}`).toBe(status);
      const json = (await res.body.json()) as { error: { message: string; type: string } };
      expect(typeof json.error.message).toBe('string');
      expect(typeof json.error.type).toBe('string');
    }
    expect(mock.received).toHaveLength(0);
  });
});
