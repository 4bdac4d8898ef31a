import { DatabaseSync } from 'node:sqlite';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { hashKey } from '../../src/tenants/keys.js';
import { pacificDay } from '../../src/time/pacific.js';
import { systemClock } from '../../src/time/clock.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { startRedisServer, type RunningRedis } from '../support/redis-server.js';
import { ADMIN_TOKEN, GOOGLE_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const KEY = 'faults-tenant-key';

const config = (opts: { timeoutMs?: number; bodyLimitBytes?: number; onFailure?: string } = {}) => `
upstream: { baseUrl: $UPSTREAM, timeoutMs: ${opts.timeoutMs ?? 5000}, retries: 1 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
tenants:
  - id: t
    project: default
    keys: ["${hashKey(KEY)}"]
store: { onFailure: ${opts.onFailure ?? 'local'} }
server: { bodyLimitBytes: ${opts.bodyLimitBytes ?? 1_000_000} }
database: { path: $DB_PATH }
`;

const good = JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] });

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

function native(g: RunningGateway, path = '/v1beta/models/nano-banana:generateContent', body: string | Buffer = good, headers: Record<string, string> = {}) {
  return request(`${g.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY, ...headers }, body });
}

describe('upstream faults', () => {
  it('answers 504 DEADLINE_EXCEEDED when Google does not answer in time, natively and on the OpenAI face', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config({ timeoutMs: 150 }) });
    mock.setModelFault('gemini-3.1-flash-lite-image', { kind: 'hang' });
    const res = await native(gw);
    expect(res.statusCode).toBe(504);
    expect(((await res.body.json()) as { error: { status: string } }).error.status).toBe('DEADLINE_EXCEEDED');
    const oa = await request(`${gw.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nano-banana', prompt: 'x' }),
    });
    expect(oa.statusCode).toBe(504);
    expect(((await oa.body.json()) as { error: { type: string } }).error.type).toBeTypeOf('string');
    mock.setModelFault('gemini-3.1-flash-lite-image', undefined);
  });

  it('retries a dropped connection and answers with the retry', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    mock.enqueue({ kind: 'drop' });
    const res = await native(gw);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });

  it('answers 502 in Google\'s envelope when Google cannot be reached at all', async () => {
    gw = await startGateway({ upstreamUrl: 'http://127.0.0.1:9', configYaml: config() });
    const res = await native(gw);
    expect(res.statusCode).toBe(502);
    expect(((await res.body.json()) as { error: { status: string } }).error.status).toBe('UNAVAILABLE');
  });

  it("cuts the client's answer short when Google breaks off mid-answer, and records the call as aborted", async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    mock.enqueue({ kind: 'breakOff', afterBytes: 100 });
    const res = await native(gw);
    expect(res.statusCode).toBe(200);
    // The headers went out before the break: the body ends with a connection error, never as complete.
    await expect(res.body.text()).rejects.toThrow();
    let rows: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 100 && rows.length === 0; i++) {
      await gw.gateway.ledger.flush();
      const db = new DatabaseSync(gw.dbPath, { readOnly: true });
      rows = db.prepare('SELECT route, http_status, flags FROM usage_records').all() as Array<Record<string, unknown>>;
      db.close();
      if (rows.length === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ route: 'native.generateContent', http_status: 200 });
    expect(String(rows[0]!['flags']).split(',')).toContain('aborted');
    for (let i = 0; i < 100 && !gw.logs.some((l) => l.includes('broke off')); i++) await new Promise((r) => setTimeout(r, 5));
    expect(gw.logs.some((l) => l.includes("Google's answer broke off while it was being relayed"))).toBe(true);

    mock.enqueue({ kind: 'breakOff', afterBytes: 100 });
    const oa = await request(`${gw.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nano-banana', prompt: 'x' }),
    });
    expect(oa.statusCode).toBe(502);
    expect(((await oa.body.json()) as { error: { message: string } }).error.message).toMatch(/broke off/);
  });

  it('disconnects a client that stops reading for longer than the upstream timeout, and stops reading from Google', async () => {
    const big = await startMockGoogle({ apiKeys: [GOOGLE_KEY], imageBytes: { '4K': 20 * 1024 * 1024 } });
    try {
      gw = await startGateway({ upstreamUrl: big.url, configYaml: config({ timeoutMs: 300 }) });
      const { request: httpRequest } = await import('node:http');
      const body = JSON.stringify({ contents: [{ parts: [{ text: 'poster' }] }], generationConfig: { imageConfig: { imageSize: '4K' } } });
      const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
        const req = httpRequest(`${gw!.url}/v1beta/models/nano-banana-pro:generateContent`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY } }, resolve);
        req.on('error', reject);
        req.end(body);
      });
      expect(res.statusCode).toBe(200);
      // Read nothing: the gateway's socket fills, then the stall limit runs out.
      res.pause();
      for (let i = 0; i < 400 && !gw.logs.some((l) => l.includes('client stopped reading the answer')); i++) await new Promise((r) => setTimeout(r, 10));
      for (let i = 0; i < 200 && big.openRequests() > 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(big.openRequests()).toBe(0);
      // Reading again, the client finds its answer cut short: the gateway hung up.
      const ended = await new Promise<'complete' | 'cut short'>((resolve) => {
        res.on('data', () => {});
        res.once('end', () => resolve(res.complete ? 'complete' : 'cut short'));
        res.once('error', () => resolve('cut short'));
        res.once('close', () => resolve(res.complete ? 'complete' : 'cut short'));
        res.resume();
      });
      expect(ended).toBe('cut short');
      expect(gw.logs.some((l) => l.includes('client stopped reading the answer'))).toBe(true);
    } finally {
      await big.close();
    }
  });

  it('aborts the upstream call when the client goes away', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    mock.setModelFault('gemini-3.1-flash-lite-image', { kind: 'hang' });
    const controller = new AbortController();
    const aborted = request(`${gw.url}/v1beta/models/nano-banana:generateContent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY },
      body: good,
      signal: controller.signal,
    }).catch(() => 'aborted');
    for (let i = 0; i < 200 && mock.openRequests() < 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(mock.openRequests()).toBe(1);
    controller.abort();
    expect(await aborted).toBe('aborted');
    for (let i = 0; i < 200 && mock.openRequests() > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(mock.openRequests()).toBe(0);
    mock.setModelFault('gemini-3.1-flash-lite-image', undefined);
  });
});

describe('retries and the quota', () => {
  const limited = (rpm: number) => `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 2 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
    limits: { gemini-3.1-flash-lite-image: { rpm: ${rpm} } }
tenants:
  - id: t
    project: default
    keys: ["${hashKey(KEY)}"]
database: { path: $DB_PATH }
`;
  const generations = () => mock.received.filter((r) => r.path.includes(':generateContent')).length;

  it('counts every attempt Google receives, retries included, against the project RPM', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: limited(3) });
    mock.enqueue({ kind: 'internal' }, { kind: 'internal' });
    const first = await native(gw);
    expect(first.statusCode).toBe(200);
    await first.body.dump();
    expect(generations()).toBe(3);
    // Three attempts used the minute's three requests: the next call is refused locally.
    const second = await native(gw);
    expect(second.statusCode).toBe(429);
    await second.body.dump();
    expect(generations()).toBe(3);
  });

  it('makes no retry the quota has no room for: the last answer of Google stands', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: limited(2) });
    mock.enqueue({ kind: 'internal' }, { kind: 'internal' }, { kind: 'internal' });
    const res = await native(gw);
    expect(res.statusCode).toBe(500);
    expect(((await res.body.json()) as { error: { status: string } }).error.status).toBe('INTERNAL');
    expect(generations()).toBe(2);
  });
});

describe('bad input limits', () => {
  it('answers an oversized body with 413 in each face\'s shape', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config({ bodyLimitBytes: 10_000 }) });
    const big = JSON.stringify({ contents: [{ parts: [{ text: 'x'.repeat(20_000) }] }] });
    const res = await native(gw, undefined, big);
    expect(res.statusCode).toBe(413);
    expect(((await res.body.json()) as { error: { code: number } }).error.code).toBe(413);
    const oa = await request(`${gw.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'x'.repeat(20_000) }),
    });
    expect(oa.statusCode).toBe(413);
    expect(((await oa.body.json()) as { error: { message: string } }).error.message).toBeTypeOf('string');
    expect(mock.received).toHaveLength(0);
  });

  it('slows down repeated failed authentication from one address: 429 after 20 failures a minute', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) {
      const r = await native(gw, undefined, good, { 'x-goog-api-key': `wrong-${i}` });
      statuses.push(r.statusCode);
      await r.body.dump();
    }
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20)).toEqual([429, 429]);
    // A wrong key stays refused with 429 while the address is blocked ...
    const wrong = await native(gw, undefined, good, { 'x-goog-api-key': 'wrong-again' });
    expect(wrong.statusCode).toBe(429);
    expect(wrong.headers['retry-after']).toBeDefined();
    await wrong.body.dump();
    // ... but a valid key always passes: one bad client behind a shared address locks no one out.
    const right = await native(gw);
    expect(right.statusCode).toBe(200);
    await right.body.dump();
  });

  it('counts failures per client address as the trusted proxy reports it (server.trustProxy)', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: `${config()}\n`.replace('server: {', 'server: { trustProxy: "127.0.0.1",') });
    const attempt = async (client: string) => {
      const r = await native(gw!, undefined, good, { 'x-goog-api-key': 'wrong', 'x-forwarded-for': client });
      await r.body.dump();
      return r.statusCode;
    };
    for (let i = 0; i < 21; i++) await attempt('203.0.113.7');
    expect(await attempt('203.0.113.7')).toBe(429);
    // Another client behind the same proxy is not blocked by the first one's failures.
    expect(await attempt('198.51.100.9')).toBe(401);
  });
});

describe('database faults', () => {
  it('answers 503 in each face\'s shape, never 500, while the database cannot be used', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    await gw.gateway.db.close();
    const usage = await request(`${gw.url}/v1/usage?from=2026-01-01&to=2026-01-31`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(usage.statusCode).toBe(503);
    expect(((await usage.body.json()) as { error: { type: string; message: string } }).error).toMatchObject({ type: 'server_error', message: expect.stringContaining('database') });
    const admin = await request(`${gw.url}/admin/tenants`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(admin.statusCode).toBe(503);
    expect(((await admin.body.json()) as { error: { code: string } }).error.code).toBe('store_unavailable');
    const created = await request(`${gw.url}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'new-team', project: 'default' }),
    });
    expect(created.statusCode).toBe(503);
    await created.body.dump();
    // Calls are still served (their records wait in memory): degraded, not unready.
    const ready = await request(`${gw.url}/readyz`);
    expect(ready.statusCode).toBe(200);
    expect(await ready.body.json()).toMatchObject({ status: 'degraded', checks: { database: expect.stringMatching(/^degraded: database unavailable/) } });
    expect(gw.logs.join('')).not.toContain('unhandled error');
  });
});

describe('store faults', () => {
  let redis: RunningRedis;
  beforeEach(async () => {
    redis = await startRedisServer();
  });
  afterEach(async () => {
    await redis.stop();
  });

  it('stays ready, reporting degraded, and keeps serving on local counters while Redis is down (onFailure: local)', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(), redisUrl: redis.url });
    expect((await request(`${gw.url}/readyz`)).statusCode).toBe(200);
    await redis.stop();
    const ready = await request(`${gw.url}/readyz`);
    expect(ready.statusCode).toBe(200);
    const body = (await ready.body.json()) as { status: string; checks: Record<string, string> };
    expect(body.status).toBe('degraded');
    expect(body.checks['store']).toMatch(/^degraded: counting in this instance's memory/);
    expect((await native(gw)).statusCode).toBe(200);
  });

  it('refuses with 503, and is not ready, while Redis is down when onFailure is deny', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config({ onFailure: 'deny' }), redisUrl: redis.url });
    await redis.stop();
    const res = await native(gw);
    expect(res.statusCode).toBe(503);
    expect(mock.received).toHaveLength(0);
    const ready = await request(`${gw.url}/readyz`);
    expect(ready.statusCode).toBe(503);
    expect(((await ready.body.json()) as { checks: Record<string, string> }).checks['store']).toMatch(/^unavailable/);
  });
});

describe('PostgreSQL deployment', () => {
  const pgUrl = inject('pgUrl');
  it.skipIf(!pgUrl)('shares admin-made tenants between instances and records usage in PostgreSQL', async () => {
    const a = await startGateway({ upstreamUrl: mock.url, configYaml: config(), databaseUrl: pgUrl, redisUrl: inject('redisUrl') });
    const b = await startGateway({ upstreamUrl: mock.url, configYaml: config(), databaseUrl: pgUrl, redisUrl: inject('redisUrl') });
    try {
      const admin = { authorization: 'Bearer admin-secret-token', 'content-type': 'application/json' };
      const id = `pg-${Date.now()}`;
      expect((await request(`${a.url}/admin/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ id, project: 'default' }) })).statusCode).toBe(201);
      const created = await request(`${a.url}/admin/tenants/${id}/keys`, { method: 'POST', headers: admin, body: '{}' });
      const { key } = (await created.body.json()) as { key: string };
      // Instance b learns of it on its next refresh (every 2 s in production; here, on demand).
      expect((await native(b, undefined, good, { 'x-goog-api-key': key })).statusCode).toBe(401);
      await b.gateway.tenants.refresh();
      // The report's days are Pacific days of the gateways' clock (the system clock here): the
      // range spans the call whatever the date, a Pacific midnight passed during it included.
      const dayBefore = pacificDay(systemClock.nowMs());
      const ok = await native(b, undefined, good, { 'x-goog-api-key': key });
      expect(ok.statusCode).toBe(200);
      await ok.body.dump();
      await b.gateway.ledger.flush();
      const dayAfter = pacificDay(systemClock.nowMs());
      const report = await request(`${a.url}/admin/usage?from=${dayBefore}&to=${dayAfter}&tenant=${id}&groupBy=tenant`, { headers: admin });
      expect(report.statusCode).toBe(200);
      const json = (await report.body.json()) as { totals: { requests: number } };
      expect(json.totals.requests).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
