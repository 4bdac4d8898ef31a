import { DatabaseSync } from 'node:sqlite';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/tenants/keys.js';
import { ManualClock } from '../../src/time/clock.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { ADMIN_TOKEN, GOOGLE_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const KEY = 'usage-tenant-key';
const THRIFTY_KEY = 'usage-thrifty-key';

// nano-banana is Nano Banana 2 Lite (config/models.yaml). One call holds its 1120 image tokens
// at $30/M plus the table's 1,024-token text and thinking allowance at $1.50/M (#13.1), about
// $0.03514 with the prompt: a daily budget of $0.20 fits five of them, not six.
const CONFIG = `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 0 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
tenants:
  - id: design
    project: default
    keys: ["${hashKey(KEY)}"]
  - id: thrifty
    project: default
    keys: ["${hashKey(THRIFTY_KEY)}"]
    budget: { dailyUsd: 0.2 }
database: { path: $DB_PATH }
`;

let mock: MockGoogle;
let gw: RunningGateway;
let clock: ManualClock;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(async () => {
  mock.reset();
  // 10:00 in Los Angeles on the day of today's lineup (config/models.yaml): Pacific day 2026-11-27.
  clock = new ManualClock('2026-11-27T18:00:00Z');
  gw = await startGateway({ upstreamUrl: mock.url, configYaml: CONFIG, clock });
});
afterEach(async () => {
  await gw?.close();
});

const body = (text = 'a banana') => JSON.stringify({ contents: [{ parts: [{ text }] }] });

function native(path: string, key = KEY, payload = body()) {
  return request(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': key }, body: payload });
}

function openai(key: string, payload: Record<string, unknown>) {
  return request(`${gw.url}/v1/images/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(payload),
  });
}

type Row = Record<string, string | number | null>;

async function records(): Promise<Row[]> {
  await gw.gateway.ledger.flush();
  const db = new DatabaseSync(gw.dbPath, { readOnly: true });
  try {
    return db.prepare('SELECT * FROM usage_records ORDER BY rowid').all() as Row[];
  } finally {
    db.close();
  }
}

describe('usage records', () => {
  it('records one priced record per upstream call with every contract field', async () => {
    const res = await native('/v1beta/models/nano-banana-pro:generateContent', KEY, JSON.stringify({
      contents: [{ parts: [{ text: 'a banana' }] }],
      generationConfig: { imageConfig: { imageSize: '4K' } },
    }));
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const [r] = await records();
    expect(r).toMatchObject({
      tenant_id: 'design',
      key_id: expect.stringMatching(/^key_/),
      project_id: 'default',
      route: 'native.generateContent',
      model_asked: 'nano-banana-pro',
      model: 'gemini-3-pro-image',
      image_size: '4K',
      images_returned: 1,
      output_image_tokens: 2000,
      http_status: 200,
      finish_reason: 'STOP',
      request_id: res.headers['x-request-id'],
      day: '2026-11-27',
    });
    const usage = JSON.parse(String(r!['usage_metadata']));
    const expected = usage.promptTokenCount * 2000 + 2000 * 120_000 + (usage.candidatesTokenCount - 2000 + (usage.thoughtsTokenCount ?? 0)) * 12_000;
    expect(Number(r!['cost_nano_usd'])).toBe(expected);
    // The price row in force at the call: Pro's row from 2025-11-20 (config/models.yaml).
    expect(r!['price_version']).toMatch(/^gemini-3-pro-image@2025-11-20#[0-9a-f]{8}$/);
    const metrics = await (await request(`${gw.url}/metrics`)).body.text();
    expect(metrics).toContain(`nanogate_cost_usd_total{tenant="design",model="gemini-3-pro-image"} ${expected / 1e9}`);
    expect(metrics).toContain('nanogate_upstream_calls_total{model="gemini-3-pro-image",status="200"} 1');
  });

  it('prices a streamed call exactly like the same call unstreamed', async () => {
    for (const path of [
      '/v1beta/models/nano-banana-2:generateContent',
      '/v1beta/models/nano-banana-2:streamGenerateContent?alt=sse',
      '/v1beta/models/nano-banana-2:streamGenerateContent',
    ]) {
      const res = await native(path);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    const rows = await records();
    expect(rows.map((r) => r['route'])).toEqual(['native.generateContent', 'native.streamGenerateContent', 'native.streamGenerateContent']);
    const costs = rows.map((r) => Number(r['cost_nano_usd']));
    expect(costs[0]).toBeGreaterThan(0);
    expect(new Set(costs).size).toBe(1);
  });

  it('records each of n OpenAI calls with the user field, and a call with no image as no_image', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_OTHER' });
    const res = await openai(KEY, { model: 'nano-banana', prompt: 'x', n: 2, user: 'alice@example.com' });
    expect(res.statusCode).toBe(200);
    const json = (await res.body.json()) as { data: unknown[]; usage: { cost_usd: string } };
    expect(json.data).toHaveLength(1);
    const rows = await records();
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r['user_label'] === 'alice@example.com' && r['route'] === 'openai.generations')).toBe(true);
    expect(rows.filter((r) => String(r['flags']).includes('no_image'))).toHaveLength(1);
    const total = rows.reduce((s, r) => s + Number(r['cost_nano_usd']), 0);
    expect(res.headers['x-nanogate-cost-usd']).toBe((Math.round(total / 1000) / 1e6).toFixed(6));
    expect(json.usage.cost_usd).toBe(res.headers['x-nanogate-cost-usd']);
  });

  it('records Google errors at no cost and counts them', async () => {
    mock.enqueue({ kind: 'status', status: 400, body: { error: { code: 400, message: 'bad', status: 'INVALID_ARGUMENT' } } });
    await (await native('/v1beta/models/nano-banana:generateContent')).body.dump();
    const [r] = await records();
    expect(r).toMatchObject({ http_status: 400, cost_nano_usd: 0 });
  });
});

describe('budgets', () => {
  it('admits at most 5 of 50 concurrent requests against a budget that fits 5, and never overspends', async () => {
    // Google answers slowly, so all 50 are in flight before the first one settles.
    mock.setModelFault('gemini-3.1-flash-lite-image', { kind: 'delay', ms: 300 });
    const answers = await Promise.all(Array.from({ length: 50 }, () => native('/v1beta/models/nano-banana:generateContent', THRIFTY_KEY)));
    const statuses = await Promise.all(answers.map(async (a) => (await a.body.dump(), a.statusCode)));
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(mock.received.length).toBe(statuses.filter((s) => s === 200).length);
    const spent = (await records()).reduce((sum, r) => sum + Number(r['cost_nano_usd']), 0);
    expect(spent).toBeLessThanOrEqual(0.2e9);
  });

  it('refuses over budget natively with ErrorInfo BUDGET_EXCEEDED and on OpenAI with insufficient_quota', async () => {
    for (let i = 0; i < 30; i++) {
      const r = await native('/v1beta/models/nano-banana:generateContent', THRIFTY_KEY);
      await r.body.dump();
      if (r.statusCode === 429) break;
    }
    const refused = await native('/v1beta/models/nano-banana:generateContent', THRIFTY_KEY);
    expect(refused.statusCode).toBe(429);
    const json = (await refused.body.json()) as { error: { status: string; details: Array<Record<string, unknown>> } };
    expect(json.error.status).toBe('RESOURCE_EXHAUSTED');
    expect(json.error.details.find((d) => d['reason'] === 'BUDGET_EXCEEDED')).toBeDefined();
    const oa = await openai(THRIFTY_KEY, { model: 'nano-banana', prompt: 'x' });
    expect(oa.statusCode).toBe(429);
    expect(((await oa.body.json()) as { error: { code: string } }).error.code).toBe('insufficient_quota');
    expect(oa.headers['x-should-retry']).toBe('false');
    // The next Pacific day starts a fresh budget.
    clock.set('2026-11-28T08:00:00Z');
    expect((await native('/v1beta/models/nano-banana:generateContent', THRIFTY_KEY)).statusCode).toBe(200);
  });
});

describe('reports', () => {
  it('sums records exactly in the admin report, as JSON and CSV, and gives a tenant only its own rows', async () => {
    for (const key of [KEY, KEY, THRIFTY_KEY]) await (await native('/v1beta/models/nano-banana:generateContent', key)).body.dump();
    const rows = await records();
    const admin = await request(`${gw.url}/admin/usage?from=2026-11-27&to=2026-11-27&groupBy=tenant,model`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(admin.statusCode).toBe(200);
    const report = (await admin.body.json()) as { rows: Array<{ tenant: string; requests: number; costUsd: string }>; totals: { requests: number; costUsd: string } };
    expect(report.rows.map((r) => [r.tenant, r.requests])).toEqual([['design', 2], ['thrifty', 1]]);
    const nano = rows.reduce((s, r) => s + Number(r['cost_nano_usd']), 0);
    expect(report.totals.costUsd).toBe((Math.round(nano / 1000) / 1e6).toFixed(6));
    expect(report.totals.requests).toBe(3);

    const csv = await request(`${gw.url}/admin/usage?from=2026-11-27&to=2026-11-27&groupBy=tenant&format=csv`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = (await csv.body.text()).trim().split(/\r?\n/);
    expect(lines[0]).toContain('tenant');
    expect(lines).toHaveLength(3);

    const own = await request(`${gw.url}/v1/usage?from=2026-11-27&to=2026-11-27&groupBy=tenant`, { headers: { authorization: `Bearer ${THRIFTY_KEY}` } });
    const mine = (await own.body.json()) as { rows: Array<{ tenant: string }> };
    expect(mine.rows.map((r) => r.tenant)).toEqual(['thrifty']);
  });

  it('names the bad parameter', async () => {
    const res = await request(`${gw.url}/admin/usage?from=2026-02-30&to=2026-03-01`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.statusCode).toBe(400);
    expect(((await res.body.json()) as { error: { param: string } }).error.param).toBe('from');
  });

  it('keeps records across a restart of the embedded database', async () => {
    await (await native('/v1beta/models/nano-banana:generateContent')).body.dump();
    await gw.gateway.close();
    const db = new DatabaseSync(gw.dbPath, { readOnly: true });
    const count = db.prepare('SELECT count(*) AS n FROM usage_records').get() as { n: number };
    db.close();
    expect(count.n).toBe(1);
  });
});

describe('admin tenants and keys', () => {
  const admin = (method: string, path: string, json?: unknown) =>
    request(`${gw.url}${path}`, {
      method: method as 'GET',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(json ? { 'content-type': 'application/json' } : {}) },
      ...(json ? { body: JSON.stringify(json) } : {}),
    });

  it('creates a tenant and a key that works at once, shows the key once, and revokes it', async () => {
    expect((await admin('POST', '/admin/tenants', { id: 'newteam', project: 'default', limits: { rpm: 5 } })).statusCode).toBe(201);
    const created = await admin('POST', '/admin/tenants/newteam/keys', { name: 'ci' });
    expect(created.statusCode).toBe(201);
    const { id, key } = (await created.body.json()) as { id: string; key: string };
    expect(id).toMatch(/^key_/);
    expect((await native('/v1beta/models/nano-banana:generateContent', key)).statusCode).toBe(200);
    const listed = (await (await admin('GET', '/admin/tenants/newteam/keys')).body.json()) as { keys: Array<Record<string, unknown>> };
    expect(JSON.stringify(listed)).not.toContain(key);
    expect((await admin('DELETE', `/admin/tenants/newteam/keys/${id}`)).statusCode).toBe(204);
    expect((await native('/v1beta/models/nano-banana:generateContent', key)).statusCode).toBe(401);
  });

  it('answers 409 to changing a config tenant, 401 without the token, 400 naming a bad field', async () => {
    expect((await admin('PATCH', '/admin/tenants/design', { limits: { rpm: 1 } })).statusCode).toBe(409);
    expect((await request(`${gw.url}/admin/tenants`)).statusCode).toBe(401);
    const bad = await admin('POST', '/admin/tenants', { id: 'x', project: 'default', limits: { rpm: -1 } });
    expect(bad.statusCode).toBe(400);
    expect(((await bad.body.json()) as { error: { param: string } }).error.param).toBe('limits.rpm');
  });
});
