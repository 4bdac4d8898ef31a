/**
 * Money people can use (#13), through a whole gateway on the mock Google, on both faces:
 * budgets that fit real calls, what is left in sight, per-key control, cost after the fact,
 * reports, and IPM from what Google returned. Clocks are manual; nothing sleeps.
 */
import { DatabaseSync } from 'node:sqlite';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadModelTable } from '../../src/models/model-table.js';
import { hashKey } from '../../src/tenants/keys.js';
import { ManualClock } from '../../src/time/clock.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { ADMIN_TOKEN, GOOGLE_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const THRIFTY = 'money-thrifty-key';
const OPEN = 'money-open-key';
const OTHER = 'money-other-key';
const PRO = loadModelTable().byId.get('gemini-3-pro-image')!;
/** Pro's text rate, nano-USD per token. */
const PRO_TEXT_NANO = 12_000;

function config(extra = '', budget = '{ dailyUsd: 0.40 }'): string {
  return `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 0 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
tenants:
  - id: thrifty
    project: default
    keys: ["${hashKey(THRIFTY)}"]
    budget: ${budget}
  - id: open
    project: default
    keys: ["${hashKey(OPEN)}"]
  - id: other
    project: default
    keys: ["${hashKey(OTHER)}"]
database: { path: $DB_PATH }
${extra}`;
}

let mock: MockGoogle;
let gw: RunningGateway | undefined;
let clock: ManualClock;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => {
  mock.reset();
  // 10:00 in Los Angeles on 2026-11-27: the Pacific day resets in 14 hours.
  clock = new ManualClock('2026-11-27T18:00:00Z');
});
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function start(yaml = config()): Promise<RunningGateway> {
  gw = await startGateway({ upstreamUrl: mock.url, configYaml: yaml, clock });
  return gw;
}

const PROMPT = 'a banana in a spacesuit';
const nativeBody = (generationConfig: Record<string, unknown> = { imageConfig: { imageSize: '1K' } }) =>
  JSON.stringify({ contents: [{ parts: [{ text: PROMPT }] }], generationConfig });

function native(key: string, opts: { path?: string; body?: string; headers?: Record<string, string> } = {}) {
  return request(`${gw!.url}${opts.path ?? '/v1beta/models/nano-banana-pro:generateContent'}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': key, ...opts.headers },
    body: opts.body ?? nativeBody(),
  });
}

function openai(key: string, payload: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return request(`${gw!.url}/v1/images/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ model: 'nano-banana-pro', prompt: PROMPT, size: '1K', ...payload }),
  });
}

function get(path: string, key: string) {
  return request(`${gw!.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
}

function admin(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, json?: unknown) {
  return request(`${gw!.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(json !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
}

type Row = Record<string, string | number | null>;

async function records(): Promise<Row[]> {
  await gw!.gateway.ledger.flush();
  const db = new DatabaseSync(gw!.dbPath, { readOnly: true });
  try {
    return db.prepare('SELECT * FROM usage_records ORDER BY rowid').all() as Row[];
  } finally {
    db.close();
  }
}

const nanoOf = (usd: string | string[] | undefined) => Math.round(Number(usd) * 1e9);
const spentNano = (rows: Row[]) => rows.reduce((s, r) => s + Number(r['cost_nano_usd']), 0);

interface GoogleError {
  error: { code: number; message: string; status: string; details: Array<Record<string, unknown>> };
}
interface OpenAIError {
  error: { message: string; type: string; code: string | null };
}

const REFUSAL = /^daily budget \$0\.400000 of tenant thrifty: spent \$0\.2\d{5}, held \$0\.000000 by calls in flight, this call needs about \$0\.18\d{4}; resets at 00:00 Pacific \(in 14 h\)$/;

describe('a $0.40 daily budget and 1K Pro images (#13.1 acceptance)', () => {
  it('admits two and refuses the third on the native face, saying what is left', async () => {
    await start();
    for (let i = 0; i < 2; i++) {
      const res = await native(THRIFTY);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    const refused = await native(THRIFTY);
    expect(refused.statusCode).toBe(429);
    const json = (await refused.body.json()) as GoogleError;
    expect(json.error.status).toBe('RESOURCE_EXHAUSTED');
    expect(json.error.message).toMatch(REFUSAL);
    const info = json.error.details.find((d) => d['reason'] === 'BUDGET_EXCEEDED')!;
    const spent = spentNano(await records());
    expect(info['metadata']).toMatchObject({ tenant: 'thrifty', scope: 'tenant', period: 'daily', limitUsd: '0.400000', heldUsd: '0.000000', resetAt: '2026-11-28T08:00:00.000Z' });
    expect(nanoOf((info['metadata'] as Record<string, string>)['spentUsd'])).toBe(Math.round(spent / 1_000) * 1_000);
    expect(mock.received).toHaveLength(2);
  });

  it('admits two and refuses the third on the OpenAI face, with the same message', async () => {
    await start();
    for (let i = 0; i < 2; i++) {
      const res = await openai(THRIFTY);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    const refused = await openai(THRIFTY);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['x-should-retry']).toBe('false');
    const json = (await refused.body.json()) as OpenAIError;
    expect(json.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    expect(json.error.message).toMatch(REFUSAL);
  });

  it('refuses even the first under budget.holds: strict, which holds the whole output limit', async () => {
    await start(config('budget: { holds: strict }'));
    const res = await native(THRIFTY);
    expect(res.statusCode).toBe(429);
    expect(((await res.body.json()) as GoogleError).error.message).toMatch(/this call needs about \$0\.5276\d{2};/);
    expect(mock.received).toHaveLength(0);
  });

  for (const face of ['native', 'OpenAI'] as const) {
    it(`never spends past the budget with 20 concurrent calls on the ${face} face`, async () => {
      await start();
      mock.setModelFault(PRO.id, { kind: 'delay', ms: 200 });
      const answers = await Promise.all(Array.from({ length: 20 }, () => (face === 'native' ? native(THRIFTY) : openai(THRIFTY))));
      const statuses = await Promise.all(answers.map(async (a) => (await a.body.dump(), a.statusCode)));
      const admitted = statuses.filter((s) => s === 200).length;
      // Each holds ~$0.1836: two fit in $0.40 at once, a third never does.
      expect(admitted).toBe(2);
      expect(statuses.filter((s) => s === 429)).toHaveLength(18);
      expect(mock.received).toHaveLength(admitted);
      const rows = await records();
      // The documented bound: the budget plus each admitted call's text and thinking beyond its
      // allowance; these calls stayed within theirs, so within the budget itself.
      expect(rows.every((r) => !String(r['flags']).includes('over_hold'))).toBe(true);
      expect(spentNano(rows)).toBeLessThanOrEqual(400_000_000);
    });
  }

  it('overshoots only by what calls wrote beyond their allowance: flagged, counted, bounded', async () => {
    // An allowance of 0 tokens: every call writes more than it held (the mock's ~38 tokens).
    await start(config('models:\n  override:\n    gemini-3-pro-image: { textAllowanceTokens: 0 }', '{ dailyUsd: 0.269 }'));
    mock.setModelFault(PRO.id, { kind: 'delay', ms: 200 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => native(THRIFTY)));
    const statuses = await Promise.all(answers.map(async (a) => (await a.body.dump(), a.statusCode)));
    const admitted = statuses.filter((s) => s === 200).length;
    expect(admitted).toBe(2);
    const rows = await records();
    expect(rows.every((r) => String(r['flags']).split(',').includes('over_hold'))).toBe(true);
    const spent = spentNano(rows);
    const written = rows.reduce((s, r) => s + Number(r['output_text_tokens']) + Number(r['thinking_tokens']), 0);
    // Over the budget, by exactly the text and thinking nothing held room for...
    expect(spent).toBeGreaterThan(269_000_000);
    expect(spent - 269_000_000).toBeLessThanOrEqual(written * PRO_TEXT_NANO);
    // ...and within the README's bound: calls in flight × (output limit − allowance) × text rate.
    expect(spent).toBeLessThanOrEqual(269_000_000 + admitted * PRO.outputTokenLimit * PRO_TEXT_NANO);
    const metrics = await (await request(`${gw!.url}/metrics`)).body.text();
    expect(metrics).toContain(`nanogate_budget_overshoots_total{tenant="thrifty",model="${PRO.id}"} 2`);
    const overUsd = Number(/nanogate_budget_overshoot_usd_total\{tenant="thrifty",model="gemini-3-pro-image"\} ([\d.e-]+)/.exec(metrics)?.[1]);
    expect(overUsd).toBeCloseTo((written * PRO_TEXT_NANO) / 1e9, 9);
  });
});

describe('what is left (#13.2)', () => {
  it('puts the remaining budget on every relayed answer of both faces, and in a trailer once settled', async () => {
    await start();
    const first = await native(THRIFTY, { headers: { te: 'trailers' } });
    await first.body.text();
    const [r1] = await records();
    // Before the body: the call counted at its hold; in the trailer: at its real cost.
    expect(nanoOf(first.headers['x-nanogate-budget-remaining-usd'])).toBeLessThan(400_000_000 - Number(r1!['cost_nano_usd']));
    expect(first.trailers['x-nanogate-budget-remaining-usd']).toBe(usd(400_000_000 - Number(r1!['cost_nano_usd'])));

    const second = await openai(THRIFTY);
    await second.body.dump();
    expect(second.headers['x-nanogate-budget-remaining-usd']).toBe(usd(400_000_000 - spentNano(await records())));

    // A tenant without a budget gets no such header.
    const free = await native(OPEN);
    await free.body.dump();
    expect(free.headers['x-nanogate-budget-remaining-usd']).toBeUndefined();
  });

  it('shows a tenant its budgets at GET /v1/budget: spent, held, remaining, reset, day and month, tenant and key', async () => {
    await start();
    await (await native(THRIFTY)).body.dump();
    const spent = usd(spentNano(await records()));
    for (const auth of [{ authorization: `Bearer ${THRIFTY}` }, { 'x-goog-api-key': THRIFTY }]) {
      const res = await request(`${gw!.url}/v1/budget`, { headers: auth });
      expect(res.statusCode).toBe(200);
      const json = (await res.body.json()) as Record<string, Record<string, unknown>>;
      expect(json).toEqual({
        at: '2026-11-27T18:00:00.000Z',
        tenant: {
          id: 'thrifty',
          daily: {
            period: '2026-11-27',
            limitUsd: '0.400000',
            spentUsd: spent,
            heldUsd: '0.000000',
            remainingUsd: usd(400_000_000 - nanoOf(spent)),
            startsAt: '2026-11-27T08:00:00.000Z',
            resetsAt: '2026-11-28T08:00:00.000Z',
          },
          monthly: { period: '2026-11', limitUsd: null, spentUsd: spent, heldUsd: '0.000000', remainingUsd: null, startsAt: '2026-11-01T07:00:00.000Z', resetsAt: '2026-12-01T08:00:00.000Z' },
        },
        key: {
          id: expect.stringMatching(/^key_/),
          label: null,
          daily: expect.objectContaining({ limitUsd: null, spentUsd: spent, remainingUsd: null }),
          monthly: expect.objectContaining({ limitUsd: null, spentUsd: spent }),
        },
      });
    }
    expect((await get('/v1/budget', 'no-such-key')).statusCode).toBe(401);
  });
});

describe('per-key control (#13.3)', () => {
  async function keyFor(body: Record<string, unknown>): Promise<{ id: string; key: string; view: Record<string, unknown> }> {
    const created = await admin('POST', '/admin/tenants/acme/keys', body);
    expect(created.statusCode).toBe(201);
    const view = (await created.body.json()) as Record<string, unknown> & { id: string; key: string };
    return { id: view.id, key: view.key, view };
  }

  beforeEach(async () => {
    await start();
    expect((await admin('POST', '/admin/tenants', { id: 'acme', project: 'default', limits: { rpm: 100 }, budget: { monthlyUsd: 50 } })).statusCode).toBe(201);
  });

  it("sets a key's label, limits, budget and expiry at creation and shows them", async () => {
    const { id, view } = await keyFor({ label: 'ci', limits: { rpm: 1, rpd: 10, ipm: 2 }, budget: { dailyUsd: 0.2 }, expiresAt: '2026-11-27T19:00:00Z' });
    expect(view).toMatchObject({ id, tenant: 'acme', label: 'ci', limits: { rpm: 1, rpd: 10, ipm: 2 }, budget: { dailyUsd: 0.2 }, expiresAt: '2026-11-27T19:00:00.000Z' });
    const listed = (await (await admin('GET', '/admin/tenants/acme/keys')).body.json()) as { keys: Array<Record<string, unknown>> };
    expect(listed.keys).toEqual([expect.objectContaining({ id, label: 'ci', budget: { dailyUsd: 0.2 } })]);
    const bad = await admin('POST', '/admin/tenants/acme/keys', { expiresAt: '2026-11-27T17:00:00Z' });
    expect(bad.statusCode).toBe(400);
    expect(((await bad.body.json()) as { error: { param: string } }).error.param).toBe('expiresAt');
    expect((await admin('POST', '/admin/tenants/acme/keys', { limits: { rpm: -1 } })).statusCode).toBe(400);
  });

  it("enforces a key's own rpm within its tenant's, on both faces, naming the key", async () => {
    const { id, key } = await keyFor({ label: 'ci', limits: { rpm: 1 } });
    await (await native(key)).body.dump();
    const nativeRefusal = await native(key);
    expect(nativeRefusal.statusCode).toBe(429);
    const g = (await nativeRefusal.body.json()) as GoogleError;
    expect(g.error.message).toContain(`key ${id} of tenant acme`);
    const violations = g.error.details.find((d) => String(d['@type']).endsWith('QuotaFailure'))!['violations'] as Array<Record<string, unknown>>;
    expect(violations[0]).toMatchObject({ quotaId: 'NanogateKeyRequestsPerMinute', quotaValue: '1' });
    const openaiRefusal = await openai(key);
    expect(openaiRefusal.statusCode).toBe(429);
    expect(((await openaiRefusal.body.json()) as OpenAIError).error.message).toContain(`key ${id} of tenant acme`);
    // Another key of the same tenant is not held back by it.
    const other = await keyFor({});
    expect((await native(other.key)).statusCode).toBe(200);
    // PATCH lifts the key's limit; every instance sees it within the refresh.
    const patched = await admin('PATCH', `/admin/tenants/acme/keys/${id}`, { limits: {} });
    expect(patched.statusCode).toBe(200);
    expect((await native(key)).statusCode).toBe(200);
  });

  it("enforces a key's own daily budget within its tenant's, on both faces", async () => {
    const { id, key } = await keyFor({ budget: { dailyUsd: 0.3 } });
    await (await openai(key)).body.dump();
    for (const res of [await native(key), await openai(key)]) {
      expect(res.statusCode).toBe(429);
      const message = ((await res.body.json()) as { error: { message: string } }).error.message;
      expect(message).toMatch(new RegExp(`^daily budget \\$0\\.300000 of key ${id} \\(tenant acme\\): spent \\$0\\.13\\d{4}, held \\$0\\.000000`));
    }
    // Its budget at /v1/budget, beside its tenant's.
    const view = (await (await get('/v1/budget', key)).body.json()) as { key: { id: string; daily: Record<string, unknown> }; tenant: { monthly: Record<string, unknown> } };
    expect(view.key.id).toBe(id);
    expect(view.key.daily).toMatchObject({ limitUsd: '0.300000' });
    expect(view.tenant.monthly).toMatchObject({ limitUsd: '50.000000' });
    expect(nanoOf(String(view.key.daily['spentUsd']))).toBe(nanoOf(String(view.tenant.monthly['spentUsd'])));
    await admin('PATCH', `/admin/tenants/acme/keys/${id}`, { budget: { dailyUsd: 1 } });
    expect((await native(key)).statusCode).toBe(200);
  });

  it('refuses an expired key with 401 saying it expired, on both faces, until its expiry is moved', async () => {
    const { id, key } = await keyFor({ label: 'temp', expiresAt: '2026-11-27T18:30:00Z' });
    expect((await native(key)).statusCode).toBe(200);
    clock.set('2026-11-27T18:30:00Z');
    const g = await native(key);
    expect(g.statusCode).toBe(401);
    const gj = (await g.body.json()) as GoogleError;
    expect(gj.error.message).toBe(`This API key (${id}) expired at 2026-11-27T18:30:00.000Z; ask the gateway's operator for a new one.`);
    expect(gj.error.details[0]).toMatchObject({ reason: 'API_KEY_EXPIRED' });
    const o = await openai(key);
    expect(o.statusCode).toBe(401);
    expect(((await o.body.json()) as OpenAIError).error).toMatchObject({ code: 'invalid_api_key', message: expect.stringContaining('expired at 2026-11-27T18:30:00.000Z') });
    expect(mock.received).toHaveLength(1);
    // An expired key is not a guess: it never counts towards the failed-key lock-out.
    for (let i = 0; i < 25; i++) expect((await native(key)).statusCode).toBe(401);
    expect((await admin('PATCH', `/admin/tenants/acme/keys/${id}`, { expiresAt: null, label: 'kept' })).statusCode).toBe(200);
    expect((await native(key)).statusCode).toBe(200);
    const listed = (await (await admin('GET', '/admin/tenants/acme/keys')).body.json()) as { keys: Array<Record<string, unknown>> };
    expect(listed.keys[0]).toMatchObject({ label: 'kept', name: 'kept', expiresAt: null });
  });

  it('answers 404 to a PATCH of an unknown or revoked key, 409 for a config tenant, 400 for a bad field', async () => {
    const { id } = await keyFor({});
    expect((await admin('PATCH', '/admin/tenants/acme/keys/key_nope', { label: 'x' })).statusCode).toBe(404);
    expect((await admin('PATCH', `/admin/tenants/acme/keys/${id}`, { limits: { rpm: 'many' } })).statusCode).toBe(400);
    expect((await admin('PATCH', `/admin/tenants/acme/keys/${id}`, { label: 'a', name: 'b' })).statusCode).toBe(400);
    expect((await admin('DELETE', `/admin/tenants/acme/keys/${id}`)).statusCode).toBe(204);
    expect((await admin('PATCH', `/admin/tenants/acme/keys/${id}`, { label: 'x' })).statusCode).toBe(404);
    expect((await admin('PATCH', '/admin/tenants/thrifty/keys/key_x', { label: 'x' })).statusCode).toBe(409);
  });
});

describe('cost after the fact (#13.4)', () => {
  it("gives a request's calls and cost to the tenant that made it, on both faces, and 404 to anyone else", async () => {
    await start();
    const n = await native(OPEN, { headers: { 'x-request-id': 'req-money-native', te: 'trailers' } });
    await n.body.dump();
    const o = await openai(OPEN, { n: 2, user: 'alice' }, { 'x-request-id': 'req-money-openai' });
    await o.body.dump();
    // The native answer streamed past: its cost came in the trailer; the OpenAI one's in a header.
    const charged = { 'req-money-native': n.trailers['x-nanogate-cost-usd'], 'req-money-openai': o.headers['x-nanogate-cost-usd'] };
    for (const [id, calls] of [['req-money-native', 1], ['req-money-openai', 2]] as const) {
      const mine = await get(`/v1/usage/requests/${id}`, OPEN);
      expect(mine.statusCode).toBe(200);
      const json = (await mine.body.json()) as { requestId: string; tenant: string; costUsd: string; calls: Array<Record<string, unknown>> };
      expect(json).toMatchObject({ requestId: id, tenant: 'open' });
      expect(json.calls).toHaveLength(calls);
      // The same amount the answer's header carried, to the micro-dollar.
      expect(json.costUsd).toBe(charged[id]);
      expect(json.calls[0]).toMatchObject({ model: PRO.id, images: 1, status: 200, costUsd: expect.stringMatching(/^0\.\d{6}$/) });
      const theirs = await get(`/v1/usage/requests/${id}`, OTHER);
      expect(theirs.statusCode).toBe(404);
      expect(((await theirs.body.json()) as OpenAIError).error.type).toBe('invalid_request_error');
    }
    expect((await get('/v1/usage/requests/req-nobody', OPEN)).statusCode).toBe(404);
  });

  it('keeps the cost a header when known before the body, and a trailer on TE: trailers', async () => {
    await start();
    const streamed = await native(OPEN, { path: '/v1beta/models/nano-banana-pro:streamGenerateContent?alt=sse', headers: { te: 'trailers' } });
    await streamed.body.text();
    expect(streamed.headers['x-nanogate-cost-usd']).toBeUndefined();
    expect(streamed.headers['trailer']).toContain('x-nanogate-cost-usd');
    expect(streamed.trailers['x-nanogate-cost-usd']).toMatch(/^0\.\d{6}$/);
    mock.enqueue({ kind: 'status', status: 400, body: { error: { code: 400, message: 'bad', status: 'INVALID_ARGUMENT' } } });
    const failed = await native(OPEN);
    await failed.body.dump();
    expect(failed.headers['x-nanogate-cost-usd']).toBe('0.000000');
  });

  it('counts nanogate_cost_usd_total in USD by tenant and model', async () => {
    await start();
    await (await native(OPEN)).body.dump();
    const cost = spentNano(await records());
    const metrics = await (await request(`${gw!.url}/metrics`)).body.text();
    const counted = Number(/nanogate_cost_usd_total\{tenant="open",model="gemini-3-pro-image"\} ([\d.e-]+)/.exec(metrics)?.[1]);
    expect(counted).toBeCloseTo(cost / 1e9, 12);
    expect(counted).toBeLessThan(1);
  });
});

describe('reports (#13.5)', () => {
  it('default to the current Pacific month, group by user and key, filter by them, with six-decimal strings', async () => {
    await start();
    await (await openai(OPEN, { user: 'alice' })).body.dump();
    await (await openai(OPEN, { user: 'bob' })).body.dump();
    await (await native(OPEN)).body.dump();
    const rows = await records();
    const keyId = String(rows[0]!['key_id']);
    const res = await request(`${gw!.url}/admin/usage?groupBy=user,key`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.statusCode).toBe(200);
    const json = (await res.body.json()) as { from: string; to: string; rows: Array<Record<string, unknown>>; totals: Record<string, unknown> };
    expect([json.from, json.to]).toEqual(['2026-11-01', '2026-11-30']);
    expect(json.rows.map((r) => [r['user'], r['key'], r['requests']])).toEqual([
      ['', keyId, 1],
      ['alice', keyId, 1],
      ['bob', keyId, 1],
    ]);
    for (const r of [...json.rows, json.totals]) expect(r['costUsd']).toMatch(/^\d+\.\d{6}$/);
    expect(json.totals['costUsd']).toBe(usd(spentNano(rows)));

    const mine = (await (await get(`/v1/usage?groupBy=user&user=alice&key=${keyId}`, OPEN)).body.json()) as { rows: Array<Record<string, unknown>> };
    expect(mine.rows).toEqual([expect.objectContaining({ user: 'alice', requests: 1 })]);
    const csv = await (await get('/v1/usage?groupBy=user&format=csv', OPEN)).body.text();
    expect(csv.split('\r\n')[0]).toBe('user,requests,images,input_tokens,output_image_tokens,output_text_tokens,thinking_tokens,cost_usd');
  });
});

describe('images per minute from what Google returned (#13.7)', () => {
  it("gives back an image Google did not return, so it does not hold the project's IPM, on both faces", async () => {
    await start(config('', '{ dailyUsd: 100 }').replace('tier: tier3', 'tier: tier3\n    limits: { gemini-3-pro-image: { ipm: 1 } }'));
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_SAFETY' });
    const blocked = await native(OPEN);
    await blocked.body.dump();
    expect(blocked.statusCode).toBe(200);
    // The blocked call returned no image: the one image a minute is still free.
    const drawn = await openai(OPEN);
    await drawn.body.dump();
    expect(drawn.statusCode).toBe(200);
    const refused = await native(OPEN);
    expect(refused.statusCode).toBe(429);
    const violations = ((await refused.body.json()) as GoogleError).error.details.find((d) => String(d['@type']).endsWith('QuotaFailure'))!['violations'] as Array<Record<string, unknown>>;
    expect(String(violations[0]!['quotaId'])).toMatch(/^GenerateImagesPerMinute/);
    const quota = (await (await admin('GET', '/admin/projects/default/quota')).body.json()) as { models: Record<string, Record<string, { used: number }>> };
    expect(quota.models[PRO.id]!['ipm']!.used).toBe(1);
    expect(quota.models[PRO.id]!['rpm']!.used).toBe(2);
  });
});

function usd(nano: number): string {
  return (Math.round(nano / 1_000) / 1e6).toFixed(6);
}
