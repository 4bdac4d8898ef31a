/**
 * #12.8: CORS for browser clients. Off by default; with `server.cors.origins`, preflights of the
 * model routes on both faces are answered (the SDKs' own headers included) and the answers say
 * which origin may read them; /admin only with `server.cors.admin`, ops routes never.
 */
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { defaultConfigYaml, startGateway, TENANT_KEY, type RunningGateway } from '../support/gateway-harness.js';

const APP = 'https://app.example.com';

let mock: MockGoogle;
let gw: RunningGateway | undefined;

beforeAll(async () => {
  mock = await startMockGoogle();
});
afterAll(async () => {
  await mock?.close();
});
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const withCors = (cors: string) => `${defaultConfigYaml('$UPSTREAM', '$DB_PATH')}server:\n  cors: ${cors}\n`;

async function preflight(g: RunningGateway, path: string, headers: string, origin = APP) {
  const res = await request(`${g.url}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
  });
  await res.body.dump();
  return res;
}

describe('CORS off (the default)', () => {
  it('adds no CORS header and answers OPTIONS as before (405 with Allow)', async () => {
    gw = await startGateway({ upstreamUrl: mock.url });
    const pre = await preflight(gw, '/v1/images/generations', 'authorization, content-type');
    expect(pre.statusCode).toBe(405);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const res = await request(`${gw.url}/v1/models`, { headers: { origin: APP, authorization: `Bearer ${TENANT_KEY}` } });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('CORS with an allowlist of origins', () => {
  it.each([
    ['the OpenAI face', '/v1/images/generations', 'authorization, content-type, x-stainless-os, x-stainless-retry-count'],
    ["Google's OpenAI-compatible path", '/v1beta/openai/images/edits', 'authorization'],
    ['the native face', '/v1beta/models/nano-banana-pro:generateContent', 'x-goog-api-key, content-type, x-goog-api-client'],
    ['the native face under /v1/', '/v1/models/nano-banana-pro:streamGenerateContent?alt=sse', 'x-goog-api-key, content-type'],
  ])('answers the preflight of %s with the origin, the methods and the SDK headers', async (_name, path, headers) => {
    gw ??= await startGateway({ upstreamUrl: mock.url, configYaml: withCors(`{ origins: ["${APP}", "https://other.example.com"] }`) });
    const res = await preflight(gw, path, headers);
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(String(res.headers['access-control-allow-methods'])).toContain('POST');
    expect(res.headers['access-control-allow-headers']).toBe(headers);
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(String(res.headers['vary'])).toMatch(/Origin/i);
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it("lets the allowed origin read answers and the gateway's headers, errors included; other origins get nothing", async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: withCors(`{ origins: ["${APP}"] }`) });
    const ok = await request(`${gw.url}/v1beta/models/nano-banana-pro:generateContent`, {
      method: 'POST',
      headers: { origin: APP, 'x-goog-api-key': TENANT_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] }),
    });
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    expect(ok.headers['access-control-allow-origin']).toBe(APP);
    expect(String(ok.headers['access-control-expose-headers'])).toContain('x-nanogate-cost-usd');
    expect(String(ok.headers['access-control-expose-headers'])).toContain('x-request-id');

    const refused = await request(`${gw.url}/v1/images/generations`, { method: 'POST', headers: { origin: APP, authorization: 'Bearer wrong', 'content-type': 'application/json' }, body: '{}' });
    expect(refused.statusCode).toBe(401);
    await refused.body.dump();
    expect(refused.headers['access-control-allow-origin']).toBe(APP);

    const stranger = await preflight(gw, '/v1/images/generations', 'authorization', 'https://evil.example.com');
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
    const strangerGet = await request(`${gw.url}/v1/models`, { headers: { origin: 'https://evil.example.com', authorization: `Bearer ${TENANT_KEY}` } });
    await strangerGet.body.dump();
    expect(strangerGet.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('keeps /admin and the ops routes closed to browsers, under any spelling, and a plain OPTIONS still gets 405', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: withCors(`{ origins: ["${APP}"] }`) });
    for (const path of ['/admin/tenants', '/%61dmin/tenants', '/healthz', '/metrics', '/readyz', '/nowhere']) {
      const res = await preflight(gw, path, 'authorization');
      expect({ path, acao: res.headers['access-control-allow-origin'] }).toEqual({ path, acao: undefined });
      expect(res.statusCode).not.toBe(204);
    }
    const plain = await request(`${gw.url}/v1/images/generations`, { method: 'OPTIONS' });
    expect(plain.statusCode).toBe(405);
    expect(((await plain.body.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  it('opens /admin to the same origins with cors.admin', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: withCors(`{ origins: ["${APP}"], admin: true }`) });
    const res = await preflight(gw, '/admin/tenants', 'authorization, content-type');
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(APP);
  });

  it('refuses an origin with a path, a typo browsers would never match, at start', async () => {
    await expect(startGateway({ upstreamUrl: mock.url, configYaml: withCors(`{ origins: ["${APP}/"] }`) })).rejects.toThrow(
      /server\.cors\.origins\[0\]: must be "\*" or an origin like https:\/\/app\.example\.com/,
    );
  });
});
