/**
 * buildApp through app.inject(): routing, request ids and error shapes that hold across the
 * faces, on real in-process dependencies (SQLite in memory, the memory quota store, a manual
 * clock) with the upstream pointed at the mock Google. No socket is opened for the gateway.
 */
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { modelTableFor, parseConfig } from '../src/config/load.js';
import { openDatabase } from '../src/db/database.js';
import { ModelResolver } from '../src/models/resolver.js';
import { GatewayMetrics } from '../src/ops/metrics.js';
import { MemoryQuotaStore } from '../src/quota/memory-store.js';
import { QuotaService } from '../src/quota/quota-service.js';
import { hashKey } from '../src/tenants/keys.js';
import { TenantRegistry } from '../src/tenants/registry.js';
import { ManualClock } from '../src/time/clock.js';
import { UpstreamClient } from '../src/upstream/client.js';
import { BudgetService } from '../src/usage/budget.js';
import { UsageLedger } from '../src/usage/ledger.js';
import { startMockGoogle, type MockGoogle } from './mock-google/server.js';

const GOOGLE_KEY = 'app-test-google-key';
const TENANT_KEY = 'app-test-tenant-key';
const ADMIN_TOKEN = 'app-test-admin-token';

interface BuiltApp {
  app: FastifyInstance;
  logs: string[];
  close(): Promise<void>;
}

/** buildApp on fresh dependencies, the way gateway.ts wires them, minus the network. */
async function build(opts: { adminToken?: string } = {}): Promise<BuiltApp> {
  const config = parseConfig(
    `
upstream: { baseUrl: ${mock.url}, timeoutMs: 5000, retries: 0 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier1
tenants:
  - id: design
    project: default
    keys: ["${hashKey(TENANT_KEY)}"]
database: { path: ':memory:' }
`,
    {},
    'app-test',
  );
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const db = await openDatabase({ sqlitePath: ':memory:' });
  await db.migrate();
  const store = new MemoryQuotaStore();
  const ledger = new UsageLedger({ db, logger });
  const tenants = new TenantRegistry({ tenants: config.tenants, db, logger, refreshIntervalMs: 0 });
  await tenants.start();
  const upstream = new UpstreamClient({ baseUrl: config.upstream.baseUrl, timeoutMs: config.upstream.timeoutMs, retries: config.upstream.retries });
  // The day of the lineup the mock serves (config/models.yaml, 2026-11-28).
  const clock = new ManualClock('2026-11-28T17:00:00Z');
  const app = await buildApp({
    config,
    clock,
    logger,
    upstream,
    db,
    store,
    quota: new QuotaService({ store, logger }),
    budgets: new BudgetService({ store, logger, loadSpendNanoUsd: (t, from, to) => db.spendNanoUsd(t, from, to) }),
    ledger,
    models: new ModelResolver({ table: modelTableFor(config), aliases: config.aliases, retired: config.models.retired, clock }),
    tenants,
    metrics: new GatewayMetrics({ defaultMetrics: false }),
    ...(opts.adminToken ? { adminToken: opts.adminToken } : {}),
  });
  await app.ready();
  return {
    app,
    logs,
    async close() {
      await app.close();
      tenants.stop();
      await ledger.close();
      await upstream.close();
      await db.close();
    },
  };
}

let mock: MockGoogle;
let gw: BuiltApp;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
  gw = await build({ adminToken: ADMIN_TOKEN });
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
});

const GOOGLE_KEY_HEADER = { 'x-goog-api-key': TENANT_KEY };
const BEARER = { authorization: `Bearer ${TENANT_KEY}` };
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };

type Shape = 'google' | 'openai' | 'admin';

/** Which face's error shape a body has, by its members (contract §5, §6, §10). */
function shapeOf(body: unknown): Shape | 'unknown' {
  const error = (body as { error?: Record<string, unknown> } | undefined)?.error;
  if (!error) return 'unknown';
  const keys = Object.keys(error).sort().join(',');
  if (typeof error['code'] === 'number' && typeof error['status'] === 'string' && typeof error['message'] === 'string') return 'google';
  if (keys === 'code,message,param,type') return 'openai';
  if (typeof error['code'] === 'string' && typeof error['message'] === 'string' && !('type' in error)) return 'admin';
  return 'unknown';
}

describe('buildApp: an unknown route is a 404 in the shape of the face its path belongs to', () => {
  const cases: Array<[string, InjectOptions['method'], string, Record<string, string>, Shape]> = [
    ['an admin path', 'GET', '/admin/nothing', ADMIN, 'admin'],
    ['an admin path spelt with a percent-escape', 'GET', '/%61dmin/nothing', ADMIN, 'admin'],
    ["a path under Google's OpenAI-compatibility prefix", 'POST', '/v1beta/openai/nothing', BEARER, 'openai'],
    ['a path under /v1', 'GET', '/v1/nothing', BEARER, 'openai'],
    ['a path under /v1beta', 'GET', '/v1beta/nothing', GOOGLE_KEY_HEADER, 'google'],
    ['a Google model action under /v1', 'POST', '/v1/models/nano-banana:embedContent', GOOGLE_KEY_HEADER, 'google'],
    ['a path outside every face', 'GET', '/nothing', {}, 'google'],
  ];
  for (const [name, method, url, headers, shape] of cases) {
    it(`answers ${name} (${method} ${url}) in the ${shape} shape`, async () => {
      const res = await gw.app.inject({ method, url, headers });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = res.json<{ error: Record<string, unknown> }>();
      expect(shapeOf(body)).toBe(shape);
      if (shape === 'google') expect(body.error).toMatchObject({ code: 404, status: 'NOT_FOUND' });
      if (shape === 'openai') expect(body.error).toMatchObject({ type: 'invalid_request_error' });
      if (shape === 'admin') expect(body.error['code']).toBe('route_not_found');
      expect(mock.received).toHaveLength(0);
    });
  }

  it('names the path in the message but never the query string, where keys travel', async () => {
    const res = await gw.app.inject({ method: 'GET', url: '/v1/nothing?key=secret-in-the-query' });
    expect(res.statusCode).toBe(404);
    expect(res.json<{ error: { message: string } }>().error.message).toContain('/v1/nothing');
    expect(res.body).not.toContain('secret-in-the-query');
  });

  it('has no admin routes at all when no admin token is configured (contract §1)', async () => {
    const bare = await build();
    try {
      for (const [method, url] of [
        ['GET', '/admin/tenants'],
        ['POST', '/admin/tenants'],
        ['GET', '/admin/usage'],
      ] as const) {
        const res = await bare.app.inject({ method, url, headers: ADMIN });
        expect(res.statusCode).toBe(404);
        expect(res.json<{ error: { code: string } }>().error.code).toBe('route_not_found');
      }
      // With the token, the same path is a route.
      expect((await gw.app.inject({ method: 'GET', url: '/admin/tenants', headers: ADMIN })).statusCode).toBe(200);
    } finally {
      await bare.close();
    }
  });
});

describe('buildApp: x-request-id', () => {
  const generated = /^req_[0-9a-f]{32}$/;
  const cases: Array<[string, string | undefined, string | RegExp]> = [
    ["keeps the client's id", 'req-from-client.1:2_3', 'req-from-client.1:2_3'],
    ['keeps an id of 128 characters', 'a'.repeat(128), 'a'.repeat(128)],
    ['makes one when the client sent none', undefined, generated],
    ['replaces an empty one', '', generated],
    ['replaces one with spaces', 'two words', generated],
    ['replaces one longer than 128 characters', 'a'.repeat(129), generated],
    ['replaces one that could forge log fields', 'x","level":60,"y', generated],
  ];
  for (const [name, incoming, expected] of cases) {
    it(`${name}, on the answer and in the request's log line`, async () => {
      const headers = incoming === undefined ? {} : { 'x-request-id': incoming };
      const res = await gw.app.inject({ method: 'GET', url: '/healthz', headers });
      expect(res.statusCode).toBe(200);
      const id = String(res.headers['x-request-id']);
      if (typeof expected === 'string') expect(id).toBe(expected);
      else expect(id).toMatch(expected);
      const line = gw.logs.map((l) => JSON.parse(l) as { reqId?: string; msg?: string }).find((l) => l.msg === 'request' && l.reqId === id);
      expect(line).toBeDefined();
    });
  }

  it('makes a different id for each request', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add(String((await gw.app.inject({ method: 'GET', url: '/healthz' })).headers['x-request-id']));
    expect(ids.size).toBe(20);
  });

  it('puts the id on refusals and unknown routes too', async () => {
    for (const url of ['/nothing', '/v1beta/models']) {
      const res = await gw.app.inject({ method: 'GET', url, headers: { 'x-request-id': 'trace-me' } });
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      expect(res.headers['x-request-id']).toBe('trace-me');
    }
  });
});

describe('buildApp: a wrong method is a 405 with Allow, in the route’s shape (contract §11)', () => {
  const cases: Array<[InjectOptions['method'], string, Record<string, string>, string, Shape]> = [
    ['DELETE', '/v1beta/models', GOOGLE_KEY_HEADER, 'GET', 'google'],
    ['OPTIONS', '/v1beta/models', GOOGLE_KEY_HEADER, 'GET', 'google'],
    ['PUT', '/v1/images/generations', BEARER, 'POST', 'openai'],
    ['GET', '/v1/images/edits', BEARER, 'POST', 'openai'],
    ['PATCH', '/v1beta/openai/images/generations', BEARER, 'POST', 'openai'],
    ['DELETE', '/v1/models', BEARER, 'GET', 'openai'],
    ['PUT', '/admin/tenants', ADMIN, 'GET, POST', 'admin'],
    ['PUT', '/v1beta/models/nano-banana:generateContent', GOOGLE_KEY_HEADER, 'GET, POST', 'google'],
    ['POST', '/healthz', {}, 'GET', 'google'],
    ['DELETE', '/metrics', {}, 'GET', 'google'],
    ['PUT', '/readyz', {}, 'GET', 'google'],
  ];
  for (const [method, url, headers, allow, shape] of cases) {
    it(`answers ${method} ${url} with 405, Allow: ${allow}, in the ${shape} shape`, async () => {
      const res = await gw.app.inject({ method, url, headers });
      expect(res.statusCode).toBe(405);
      expect(res.headers['allow']).toBe(allow);
      const body = res.json<{ error: Record<string, unknown> }>();
      expect(shapeOf(body)).toBe(shape);
      if (shape === 'google') expect(body.error).toMatchObject({ code: 405 });
      if (shape === 'admin') expect(body.error['code']).toBe('method_not_allowed');
      expect(mock.received).toHaveLength(0);
    });
  }

  it('answers HEAD where GET is served', async () => {
    const res = await gw.app.inject({ method: 'HEAD', url: '/v1beta/models', headers: GOOGLE_KEY_HEADER });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });
});
