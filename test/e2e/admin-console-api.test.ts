/**
 * The admin console's server side (#18) through HTTP: sign-in, the session cookie standing in
 * for the bearer token, CSRF on every state-changing request, the console's files, and the
 * admin routes it reads (projects, recent calls, a tenant's budget, cool-downs).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { hashKey } from '../../src/tenants/keys.js';
import { ManualClock } from '../../src/time/clock.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { freePort } from '../support/free-port.js';
import { ADMIN_TOKEN, GOOGLE_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const KEY = 'console-api-tenant-key';
const config = (server = '') => `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 0 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier1
tenants:
  - id: design
    project: default
    keys: ["${hashKey(KEY)}"]
    budget: { dailyUsd: 2 }
database: { path: $DB_PATH }
${server}
`;

let mock: MockGoogle;
let gw: RunningGateway | undefined;
beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
});
afterAll(async () => {
  await mock?.close();
});
afterEach(async () => {
  mock.reset();
  await gw?.close();
  gw = undefined;
});

const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function signIn(app: FastifyInstance, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'POST', url: '/admin/console/session', headers, payload: { token: ADMIN_TOKEN } });
  expect(res.statusCode).toBe(200);
  const setCookie = String(res.headers['set-cookie']);
  const cookie = setCookie.split(';')[0]!;
  return { cookie, setCookie, csrf: (res.json() as { csrfToken: string }).csrfToken };
}

function call(model = 'nano-banana-pro', key = KEY) {
  return fetch(`${gw!.url}/v1beta/models/${model}:generateContent`, {
    method: 'POST',
    headers: { 'x-goog-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] }),
  });
}

describe('console sign-in and sessions', () => {
  it('signs in with the admin token only, into a cookie the admin API then accepts for reading', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const app = gw.gateway.app;
    expect((await app.inject({ url: '/admin/console/session' })).json()).toEqual({ signedIn: false });
    const wrong = await app.inject({ method: 'POST', url: '/admin/console/session', payload: { token: `${ADMIN_TOKEN}x` } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect((await app.inject({ method: 'POST', url: '/admin/console/session', payload: {} })).statusCode).toBe(400);

    const { cookie, setCookie, csrf } = await signIn(app);
    expect(setCookie).toMatch(/^nanogate_console=v1\.[^;]+; Path=\/admin; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(ADMIN_TOKEN);
    const session = (await app.inject({ url: '/admin/console/session', headers: { cookie } })).json();
    expect(session).toMatchObject({ signedIn: true, csrfToken: csrf, today: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) });
    expect((await app.inject({ url: '/admin/tenants', headers: { cookie } })).statusCode).toBe(200);
    // A wrong bearer token is refused even beside a good cookie.
    expect((await app.inject({ url: '/admin/tenants', headers: { cookie, authorization: 'Bearer nope' } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/admin/tenants', headers: { cookie: 'nanogate_console=v1.forged' } })).statusCode).toBe(401);
  });

  it('refuses every state-changing admin request from a session without its CSRF token', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const app = gw.gateway.app;
    const { cookie, csrf } = await signIn(app);
    const other = await signIn(app);
    const create = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/admin/tenants', headers: { cookie, ...headers }, payload: { id: 'made-by-console', project: 'default' } });
    for (const headers of [{}, { 'x-csrf-token': 'forged' }, { 'x-csrf-token': other.csrf }] as Array<Record<string, string>>) {
      const res = await create(headers);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: { code: 'forbidden' } });
    }
    expect((await app.inject({ url: '/admin/tenants/made-by-console', headers: bearer })).statusCode).toBe(404);
    expect((await create({ 'x-csrf-token': csrf })).statusCode).toBe(201);
    for (const [method, url] of [['PATCH', '/admin/tenants/made-by-console'], ['DELETE', '/admin/tenants/made-by-console'], ['POST', '/admin/tenants/made-by-console/keys']] as const) {
      expect((await app.inject({ method, url, headers: { cookie }, payload: method === 'PATCH' ? { disabled: true } : {} })).statusCode, `${method} ${url}`).toBe(403);
    }
    // The bearer token needs no CSRF token: it is not sent by browsers on their own.
    expect((await app.inject({ method: 'PATCH', url: '/admin/tenants/made-by-console', headers: bearer, payload: { disabled: true } })).statusCode).toBe(200);
  });

  it('signs out only with the CSRF token, after which the cookie is worth nothing', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const app = gw.gateway.app;
    const { cookie, csrf } = await signIn(app);
    expect((await app.inject({ method: 'DELETE', url: '/admin/console/session', headers: { cookie } })).statusCode).toBe(403);
    const out = await app.inject({ method: 'DELETE', url: '/admin/console/session', headers: { cookie, 'x-csrf-token': csrf } });
    expect(out.statusCode).toBe(204);
    expect(out.headers['set-cookie']).toMatch(/^nanogate_console=; Path=\/admin; Max-Age=0;/);
    expect((await app.inject({ url: '/admin/tenants', headers: { cookie } })).statusCode).toBe(401);
  });

  it('expires a session after eight hours of the gateway clock', async () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(), clock });
    const { cookie } = await signIn(gw.gateway.app);
    clock.advance(8 * 3600_000 - 1);
    expect((await gw.gateway.app.inject({ url: '/admin/tenants', headers: { cookie } })).statusCode).toBe(200);
    clock.advance(1);
    expect((await gw.gateway.app.inject({ url: '/admin/tenants', headers: { cookie } })).statusCode).toBe(401);
  });

  it('marks the cookie Secure when the request came over TLS, as a trusted proxy reports it', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config('server: { trustProxy: true }') });
    expect((await signIn(gw.gateway.app, { 'x-forwarded-proto': 'https' })).setCookie).toMatch(/; Secure$/);
    expect((await signIn(gw.gateway.app)).setCookie).not.toMatch(/Secure/);
  });

  it('slows down repeated wrong tokens from one address', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) statuses.push((await gw.gateway.app.inject({ method: 'POST', url: '/admin/console/session', payload: { token: 'wrong' } })).statusCode);
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20)).toEqual([429, 429]);
  });
});

describe('console files', () => {
  it('serves the built page and its files with security headers, and nothing outside them', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const app = gw.gateway.app;
    const page = await app.inject({ url: '/admin/console' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    for (const file of ['main.js', 'pages/spend.js', 'vendor/uPlot.esm.js', 'console.css']) {
      const res = await app.inject({ url: `/admin/console/assets/${file}` });
      expect(res.statusCode, file).toBe(200);
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
      const again = await app.inject({ url: `/admin/console/assets/${file}`, headers: { 'if-none-match': String(res.headers.etag) } });
      expect(again.statusCode).toBe(304);
    }
    for (const path of ['nope.js', '../../package.json', '%2e%2e/%2e%2e/package.json', 'index.html', 'main.js.map']) {
      expect((await app.inject({ url: `/admin/console/assets/${path}` })).statusCode, path).toBe(404);
    }
  });

  it('does not exist without an admin token', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(), adminToken: null });
    expect((await gw.gateway.app.inject({ url: '/admin/console' })).statusCode).toBe(404);
    expect((await gw.gateway.app.inject({ method: 'POST', url: '/admin/console/session', payload: { token: 'x' } })).statusCode).toBe(404);
  });

  it('lives on the ops port when there is one, and not on the public port', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(`server: { opsPort: ${await freePort()} }`) });
    expect((await gw.gateway.app.inject({ url: '/admin/console' })).statusCode).toBe(404);
    const ops = gw.gateway.ops!;
    expect((await ops.inject({ url: '/admin/console' })).statusCode).toBe(200);
    const { cookie } = await signIn(ops);
    expect((await ops.inject({ url: '/admin/calls', headers: { cookie } })).statusCode).toBe(200);
  });
});

describe('admin routes the console reads', () => {
  it('lists the projects without their keys', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const res = await gw.gateway.app.inject({ url: '/admin/projects', headers: bearer });
    expect(res.json()).toMatchObject({ projects: [{ id: 'default', tier: 'tier1', headroom: { 'gemini-3-pro-image': { rpm: expect.any(Number) } } }] });
    expect(res.body).not.toContain(GOOGLE_KEY);
  });

  it('lists the newest calls, filtered, and finds one by request id', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    expect((await call()).status).toBe(200);
    expect((await call('nano-banana')).status).toBe(200);
    mock.enqueue({ kind: 'rateLimit', retryDelay: '20s' });
    const refused = await call('nano-banana-2');
    expect(refused.status).toBe(429);
    await gw.gateway.ledger.flush();
    const app = gw.gateway.app;
    const list = async (query: string) => ((await app.inject({ url: `/admin/calls${query}`, headers: bearer })).json() as { calls: Array<{ model: string; httpStatus: number; requestId: string; flags: string[]; costUsd: string }> }).calls;
    const all = await list('');
    expect(all.map((c) => c.model)).toEqual(['gemini-nano-banana-2.1', 'gemini-3.1-flash-lite-image', 'gemini-3-pro-image']);
    expect((await list('?status=success')).map((c) => c.httpStatus)).toEqual([200, 200]);
    expect((await list('?status=429')).map((c) => c.model)).toEqual(['gemini-nano-banana-2.1']);
    expect((await list('?model=nano-banana-pro&tenant=design')).map((c) => c.model)).toEqual(['gemini-3-pro-image']);
    expect(await list('?tenant=nobody')).toEqual([]);
    expect(await list('?limit=1')).toHaveLength(1);
    for (const bad of ['?limit=0', '?limit=1001', '?limit=x', '?status=teapot', '?flag=shiny']) {
      expect((await app.inject({ url: `/admin/calls${bad}`, headers: bearer })).statusCode, bad).toBe(400);
    }
    const one = await app.inject({ url: `/admin/calls/${all[2]!.requestId}`, headers: bearer });
    expect(one.json()).toMatchObject({ calls: [{ requestId: all[2]!.requestId, model: 'gemini-3-pro-image', finishReason: 'STOP', tokens: { outputImage: expect.any(Number) } }] });
    expect((await app.inject({ url: '/admin/calls/req_nothing', headers: bearer })).statusCode).toBe(404);
  });

  it("shows a tenant's budget spent, held and remaining", async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    expect((await call()).status).toBe(200);
    await gw.gateway.ledger.flush();
    const res = await gw.gateway.app.inject({ url: '/admin/tenants/design/budget', headers: bearer });
    const body = res.json() as { periods: Array<{ period: string; limitUsd: string | null; spentUsd: string; heldUsd: string; remainingUsd: string | null }> };
    const daily = body.periods.find((p) => p.period === 'daily')!;
    expect(daily).toMatchObject({ limitUsd: '2.000000', heldUsd: '0.000000' });
    expect(Number(daily.spentUsd)).toBeGreaterThan(0);
    expect(Number(daily.remainingUsd)).toBeCloseTo(2 - Number(daily.spentUsd), 6);
    expect(body.periods.find((p) => p.period === 'monthly')).toMatchObject({ limitUsd: null, remainingUsd: null, spentUsd: daily.spentUsd });
    expect((await gw.gateway.app.inject({ url: '/admin/tenants/nobody/budget', headers: bearer })).statusCode).toBe(404);
  });

  it("shows the cool-down after Google's 429 in the project's quota", async () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(), clock });
    mock.enqueue({ kind: 'rateLimit', retryDelay: '30s' });
    expect((await call()).status).toBe(429);
    const quota = (await gw.gateway.app.inject({ url: '/admin/projects/default/quota', headers: bearer })).json() as { cooldowns: Record<string, unknown> };
    expect(quota.cooldowns).toEqual({ 'gemini-3-pro-image': { until: '2026-11-27T18:00:30.000Z', remainingMs: 30_000 } });
    clock.advance(30_000);
    expect(((await gw.gateway.app.inject({ url: '/admin/projects/default/quota', headers: bearer })).json() as { cooldowns: unknown }).cooldowns).toEqual({});
  });
});
