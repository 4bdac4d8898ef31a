/**
 * Pools of projects (#17) end to end: gateways on one Redis, the mock of Google telling the
 * projects apart by their keys. Every counter name is unique to the run (project and pool ids).
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ManualClock } from '../../src/time/clock.js';
import { hashKey } from '../../src/tenants/keys.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { ADMIN_TOKEN, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const KEY = 'pool-tenant-key';
const GOOGLE_KEYS = ['google-key-a', 'google-key-b', 'google-key-c'] as const;
const MODEL = 'gemini-3.1-flash-lite-image';

/** Three projects (a, b, c: their Google keys in that order) with these limits, in one pool. */
function config(run: string, limits: readonly string[], strategy = 'order'): string {
  const projects = limits.map(
    (l, i) => `
  - id: ${run}-${'abc'[i]}
    apiKey: ${GOOGLE_KEYS[i]}
    tier: tier1
    limits:
      ${MODEL}: ${l}`,
  );
  return `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 0 }
projects:${projects.join('')}
pools:
  - id: ${run}-pool
    strategy: ${strategy}
    projects: [${limits.map((_, i) => `{ project: ${run}-${'abc'[i]} }`).join(', ')}]
tenants:
  - id: team
    pool: ${run}-pool
    keys: ["${hashKey(KEY)}"]
database: { path: $DB_PATH }
`;
}

function generate(gw: RunningGateway, key = KEY) {
  return request(`${gw.url}/v1beta/models/nano-banana:generateContent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': key },
    body: JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] }),
  });
}

const keyOf = (r: { headers: Record<string, string | string[] | undefined> }) => String(r.headers['x-goog-api-key']);
const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };

let mock: MockGoogle;
let clock: ManualClock;
let gateways: RunningGateway[] = [];
let run = '';

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [...GOOGLE_KEYS], recordRequests: true });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => {
  mock.reset();
  clock = new ManualClock('2026-06-15T17:00:00Z');
});
afterEach(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  gateways = [];
});

async function fleet(count: number, limits: readonly string[]): Promise<RunningGateway[]> {
  run = `r${randomBytes(4).toString('hex')}`;
  for (let i = 0; i < count; i++) {
    gateways.push(await startGateway({ upstreamUrl: mock.url, configYaml: config(run, limits), redisUrl: inject('redisUrl'), clock }));
  }
  return gateways;
}

describe('a pool of three projects on two gateway instances sharing Redis', () => {
  it('admits no more than the sum of the limits under concurrent load, and no project beyond its own', async () => {
    const gws = await fleet(2, ['{ rpd: 2 }', '{ rpm: 3 }', '{ rpd: 4 }']);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => generate(gws[i % 2]!)));
    const statuses = await Promise.all(answers.map(async (a) => (await a.body.dump(), a.statusCode)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(9);
    expect(statuses.filter((s) => s === 429)).toHaveLength(31);
    const perKey = (k: string) => mock.received.filter((r) => keyOf(r) === k).length;
    expect([perKey(GOOGLE_KEYS[0]), perKey(GOOGLE_KEYS[1]), perKey(GOOGLE_KEYS[2])]).toEqual([2, 3, 4]);
    // /admin/projects shows each project's headroom, and its pool.
    const listed = (await gws[1]!.gateway.app.inject({ url: '/admin/projects', headers: bearer })).json() as {
      projects: Array<{ id: string; pool?: string; headroom: Record<string, Record<string, number>> }>;
    };
    const a = listed.projects.find((p) => p.id === `${run}-a`)!;
    expect(a.pool).toBe(`${run}-pool`);
    expect(a.headroom[MODEL]).toMatchObject({ rpd: 0 });
    expect(listed.projects.find((p) => p.id === `${run}-b`)!.headroom[MODEL]).toMatchObject({ rpm: 0 });
  });

  it("refuses in Google's 429 shape with the earliest time any project frees up", async () => {
    const [gw] = await fleet(1, ['{ rpm: 1 }', '{ rpm: 1 }', '{ rpd: 1 }']);
    await (await generate(gw!)).body.dump();
    clock.advance(10_000);
    await (await generate(gw!)).body.dump();
    await (await generate(gw!)).body.dump();
    clock.advance(15_000);
    const refused = await generate(gw!);
    expect(refused.statusCode).toBe(429);
    const json = (await refused.body.json()) as { error: { status: string; details: Array<Record<string, unknown>> } };
    expect(json.error.status).toBe('RESOURCE_EXHAUSTED');
    // Project a's minute frees 60 s after its call, 25 s ago; b's 10 s later; c's at Pacific midnight.
    const retry = json.error.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo');
    expect(retry?.['retryDelay']).toBe('35s');
    expect(refused.headers['retry-after']).toBe('35');
    clock.advance(35_000);
    expect((await generate(gw!)).statusCode).toBe(200);
    expect(mock.received.map(keyOf)).toEqual([GOOGLE_KEYS[0], GOOGLE_KEYS[1], GOOGLE_KEYS[2], GOOGLE_KEYS[0]]);
  });

  it("spills a call Google refuses with 429 onto the next project, cools the first down, and records who served it", async () => {
    const [gw] = await fleet(1, ['{ rpm: 10 }', '{ rpm: 10 }', '{ rpm: 10 }']);
    mock.setKeyFault(GOOGLE_KEYS[0], { kind: 'rateLimit', retryDelay: '30s' });
    const first = await generate(gw!);
    expect(first.statusCode).toBe(200);
    await first.body.dump();
    expect(mock.received.map(keyOf)).toEqual([GOOGLE_KEYS[0], GOOGLE_KEYS[1]]);
    // Project a is cooling down: the next call goes straight to b.
    await (await generate(gw!)).body.dump();
    expect(mock.received.map(keyOf)).toEqual([GOOGLE_KEYS[0], GOOGLE_KEYS[1], GOOGLE_KEYS[1]]);
    await gw!.gateway.ledger.flush();
    const calls = ((await gw!.gateway.app.inject({ url: '/admin/calls', headers: bearer })).json() as { calls: Array<{ project: string; httpStatus: number }> }).calls;
    // Counted on both: the refused attempt on a, the answer on b.
    expect(calls.map((c) => [c.project, c.httpStatus]).sort()).toEqual([
      [`${run}-a`, 429],
      [`${run}-b`, 200],
      [`${run}-b`, 200],
    ]);
    const listed = (await gw!.gateway.app.inject({ url: '/admin/projects', headers: bearer })).json() as {
      projects: Array<{ id: string; headroom: Record<string, Record<string, number | string>> }>;
    };
    expect(listed.projects.find((p) => p.id === `${run}-a`)!.headroom[MODEL]).toMatchObject({ rpm: 9, coolingDownUntil: new Date(clock.nowMs() + 30_000).toISOString() });
    const metrics = (await gw!.gateway.app.inject({ url: '/metrics' })).body;
    expect(metrics).toContain(`nanogate_pool_spills_total{from="${run}-a",to="${run}-b",model="${MODEL}",status="429"} 1`);
    expect(metrics).toContain(`nanogate_project_calls_total{project="${run}-b",model="${MODEL}",status="200"} 2`);
  });

  it('spills a 503 that outlived its retries the same way', async () => {
    const [gw] = await fleet(1, ['{ rpm: 10 }', '{ rpm: 10 }', '{ rpm: 10 }']);
    mock.setKeyFault(GOOGLE_KEYS[0], { kind: 'unavailable' });
    const answer = await generate(gw!);
    expect(answer.statusCode).toBe(200);
    await answer.body.dump();
    await (await generate(gw!)).body.dump();
    expect(mock.received.map(keyOf)).toEqual([GOOGLE_KEYS[0], GOOGLE_KEYS[1], GOOGLE_KEYS[1]]);
  });

  it('answers with Google\'s 429 when every project of the pool refuses', async () => {
    const [gw] = await fleet(1, ['{ rpm: 10 }', '{ rpm: 10 }', '{ rpm: 10 }']);
    for (const k of GOOGLE_KEYS) mock.setKeyFault(k, { kind: 'rateLimit', retryDelay: '30s' });
    const refused = await generate(gw!);
    expect(refused.statusCode).toBe(429);
    await refused.body.dump();
    // Tried once more, on one other project: never a third.
    expect(mock.received.map(keyOf)).toEqual([GOOGLE_KEYS[0], GOOGLE_KEYS[1]]);
  });

  it('lets an admin-made tenant name a pool, and move off it onto one project', async () => {
    const [gw] = await fleet(1, ['{ rpm: 1 }', '{ rpm: 10 }', '{ rpm: 10 }']);
    const app = gw!.gateway.app;
    const admin = (method: 'POST' | 'PATCH', url: string, payload: unknown) => app.inject({ method, url, headers: bearer, payload: payload as Record<string, unknown> });
    expect((await admin('POST', '/admin/tenants', { id: 'pooled', project: `${run}-a`, pool: `${run}-pool` })).statusCode).toBe(400);
    expect((await admin('POST', '/admin/tenants', { id: 'pooled', pool: 'nope' })).json()).toMatchObject({ error: { message: expect.stringContaining('unknown pool nope') } });
    const created = await admin('POST', '/admin/tenants', { id: 'pooled', pool: `${run}-pool` });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ id: 'pooled', project: `${run}-a`, pool: `${run}-pool` });
    const key = (await admin('POST', '/admin/tenants/pooled/keys', {})).json().key as string;
    expect((await generate(gw!, key)).statusCode).toBe(200);
    expect((await generate(gw!, key)).statusCode).toBe(200);
    expect(mock.received.map(keyOf)).toEqual([GOOGLE_KEYS[0], GOOGLE_KEYS[1]]);
    const moved = await admin('PATCH', '/admin/tenants/pooled', { project: `${run}-c` });
    expect(moved.json()).toMatchObject({ project: `${run}-c` });
    expect(moved.json()).not.toHaveProperty('pool');
    expect((await generate(gw!, key)).statusCode).toBe(200);
    expect(mock.received.map(keyOf)).toEqual([GOOGLE_KEYS[0], GOOGLE_KEYS[1], GOOGLE_KEYS[2]]);
  });
});
