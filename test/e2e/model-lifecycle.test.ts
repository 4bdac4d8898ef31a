/**
 * Retired names keep working for clients (#11): a request naming a model past its shutdown
 * goes to its replacement (or gets a 404 naming it), with Deprecation, Sunset and Link; the
 * switch happens at the shutdown instant with no restart; a call is priced at the price row in
 * force at its time.
 */
import { DatabaseSync } from 'node:sqlite';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/tenants/keys.js';
import { ManualClock } from '../../src/time/clock.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { ADMIN_TOKEN, GOOGLE_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const KEY = 'lifecycle-tenant-key';

const config = (extra = '') => `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 0 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
tenants:
  - id: t
    project: default
    keys: ["${hashKey(KEY)}"]
database: { path: $DB_PATH }
${extra}
`;

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

const native = (g: RunningGateway, model: string) =>
  request(`${g.url}/v1beta/models/${model}:generateContent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY },
    body: JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] }),
  });
const openai = (g: RunningGateway, model: string) =>
  request(`${g.url}/v1/images/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model, prompt: 'a banana' }),
  });
const modelsAtGoogle = () => mock.received.filter((r) => r.path.includes(':generateContent')).map((r) => /models\/([^:]+):/.exec(r.path)?.[1]);

function records(g: RunningGateway): Array<{ model_asked: string; model: string; price_version: string; cost_nano_usd: number }> {
  const db = new DatabaseSync(g.dbPath, { readOnly: true });
  try {
    return db.prepare('SELECT model_asked, model, price_version, cost_nano_usd FROM usage_records ORDER BY time_ms').all() as never;
  } finally {
    db.close();
  }
}

describe('a retired model, today', () => {
  it('is served by its replacement on both faces, with Deprecation, Sunset and Link, and the record keeps both names', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(), clock: new ManualClock('2026-11-28T12:00:00Z') });
    const res = await native(gw, 'gemini-3-pro-image-preview');
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(res.headers).toMatchObject({
      'x-nanogate-model': 'gemini-3-pro-image',
      deprecation: `@${Date.parse('2026-05-28T00:00:00Z') / 1000}`,
      sunset: 'Thu, 25 Jun 2026 00:00:00 GMT',
      link: '</v1beta/models/gemini-3-pro-image>; rel="successor-version"',
    });
    const oa = await openai(gw, 'gemini-2.5-flash-image');
    expect(oa.statusCode).toBe(200);
    await oa.body.dump();
    expect(oa.headers).toMatchObject({ 'x-nanogate-model': 'gemini-3.1-flash-lite-image', sunset: 'Fri, 02 Oct 2026 00:00:00 GMT' });
    expect(modelsAtGoogle()).toEqual(['gemini-3-pro-image', 'gemini-3.1-flash-lite-image']);
    await gw.gateway.ledger.flush();
    expect(records(gw).map((r) => [r.model_asked, r.model])).toEqual([
      ['gemini-3-pro-image-preview', 'gemini-3-pro-image'],
      ['gemini-2.5-flash-image', 'gemini-3.1-flash-lite-image'],
    ]);
    const report = await request(`${gw.url}/admin/usage?from=2026-11-01&to=2026-11-30&groupBy=modelAsked,model`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const json = (await report.body.json()) as { rows: Array<{ modelAsked: string; model: string; requests: number }> };
    expect(json.rows.map((r) => [r.modelAsked, r.model, r.requests])).toEqual([
      ['gemini-2.5-flash-image', 'gemini-3.1-flash-lite-image', 1],
      ['gemini-3-pro-image-preview', 'gemini-3-pro-image', 1],
    ]);
  });

  it('gets a 404 naming the replacement under models.retired: refuse, and nothing reaches Google', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config('models: { retired: refuse }'), clock: new ManualClock('2026-11-28T12:00:00Z') });
    const res = await native(gw, 'gemini-3-pro-image-preview');
    expect(res.statusCode).toBe(404);
    expect(((await res.body.json()) as { error: { message: string; status: string } }).error).toMatchObject({
      status: 'NOT_FOUND',
      message: 'models/gemini-3-pro-image-preview was shut down by Google on 2026-06-25; use gemini-3-pro-image instead.',
    });
    const oa = await openai(gw, 'gemini-3-pro-image-preview');
    expect(oa.statusCode).toBe(404);
    expect(((await oa.body.json()) as { error: { code: string } }).error.code).toBe('model_not_found');
    expect(mock.received).toEqual([]);
  });

  it('marks a deprecated model that still runs, served as asked', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(), clock: new ManualClock('2026-11-28T12:00:00Z') });
    const res = await native(gw, 'gemini-3.1-flash-image');
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(res.headers['x-nanogate-model']).toBe('gemini-3.1-flash-image');
    expect(res.headers['deprecation']).toBe(`@${Date.parse('2026-10-06T00:00:00Z') / 1000}`);
    expect(res.headers['link']).toBe('</v1beta/models/gemini-nano-banana-2.1>; rel="successor-version"');
    expect(res.headers['sunset']).toBeUndefined();
  });
});

describe('the shutdown instant', () => {
  it('switches a running gateway from the model to its replacement at the instant, without a restart', async () => {
    const clock = new ManualClock('2026-06-24T23:59:59Z');
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(), clock });
    // Before: the preview id goes to Google as asked (today's mock answers 404 for it, as Google does now).
    const before = await native(gw, 'gemini-3-pro-image-preview');
    await before.body.dump();
    expect(before.headers['x-nanogate-model']).toBe('gemini-3-pro-image-preview');
    clock.set('2026-06-25T00:00:00Z');
    const after = await native(gw, 'gemini-3-pro-image-preview');
    expect(after.statusCode).toBe(200);
    await after.body.dump();
    expect(after.headers['x-nanogate-model']).toBe('gemini-3-pro-image');
    expect(modelsAtGoogle()).toEqual(['gemini-3-pro-image-preview', 'gemini-3-pro-image']);
  });
});

describe('prices over time', () => {
  it('prices each call at the row in force at its time, and a report across the change sums each at its own price', async () => {
    const clock = new ManualClock('2026-11-30T12:00:00Z');
    const rows = `
models:
  override:
    gemini-3-pro-image:
      prices:
        - { from: 2025-11-20, standard: { input: 2, textOutput: 12, imageOutput: 120 }, batch: { input: 1, textOutput: 6, imageOutput: 60 } }
        - { from: 2026-12-01, standard: { input: 2, textOutput: 12, imageOutput: 60 }, batch: { input: 1, textOutput: 6, imageOutput: 30 } }
`;
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(rows), clock });
    for (const at of ['2026-11-30T12:00:00Z', '2026-12-01T12:00:00Z']) {
      clock.set(at);
      const r = await native(gw, 'nano-banana-pro');
      expect(r.statusCode).toBe(200);
      await r.body.dump();
    }
    await gw.gateway.ledger.flush();
    const [first, second] = records(gw);
    expect(first!.price_version).toMatch(/^gemini-3-pro-image@2025-11-20#/);
    expect(second!.price_version).toMatch(/^gemini-3-pro-image@2026-12-01#/);
    // The same answer at half the image rate: the difference is exactly half the image tokens' cost.
    expect(first!.cost_nano_usd - second!.cost_nano_usd).toBe(1120 * 60_000);
    const report = await request(`${gw.url}/admin/usage?from=2026-11-01&to=2026-12-31&groupBy=month`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const json = (await report.body.json()) as { rows: Array<{ month: string; costUsd: string }>; totals: { costUsd: string } };
    const usd = (nano: number) => (nano / 1e9).toFixed(6);
    expect(json.rows.map((r) => [r.month, r.costUsd])).toEqual([
      ['2026-11', usd(first!.cost_nano_usd)],
      ['2026-12', usd(second!.cost_nano_usd)],
    ]);
    expect(json.totals.costUsd).toBe(usd(first!.cost_nano_usd + second!.cost_nano_usd));
  });
});
