/**
 * #12.7: what an operator reads. The request log line carries tenant, key id, model asked and
 * served, status, latency, upstream attempts, tokens, images and cost; the budget period is not
 * censored; metrics count every attempt (retries included), cost in USD, and no gauge reads NaN.
 */
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../src/ops/metrics.js';
import { hashKey } from '../../src/tenants/keys.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { GOOGLE_KEY, startGateway, TENANT_KEY, type RunningGateway } from '../support/gateway-harness.js';

const BUDGET_KEY = 'observability-budget-key';
const config = `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 2 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
tenants:
  - id: design
    project: default
    keys: ["${hashKey(TENANT_KEY)}"]
  - id: budgeted
    project: default
    keys: ["${hashKey(BUDGET_KEY)}"]
    budget: { dailyUsd: 100 }
database: { path: $DB_PATH }
`;

let mock: MockGoogle;
let gw: RunningGateway;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(async () => {
  mock.reset();
  gw = await startGateway({ upstreamUrl: mock.url, configYaml: config });
});
afterEach(async () => {
  await gw?.close();
});

const requestLines = () =>
  gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'request');

async function metricsText(): Promise<string> {
  return (await request(`${gw.url}/metrics`)).body.text();
}
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('the request log line', () => {
  it('carries tenant, key, model asked and served, status, latency, attempts (a retry included), tokens, images and cost', async () => {
    mock.enqueue({ kind: 'unavailable' });
    const res = await request(`${gw.url}/v1beta/models/NANO-BANANA-PRO:generateContent`, {
      method: 'POST',
      // The native face streams: its cost comes last, as a trailer for clients that ask.
      headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY, te: 'trailers' },
      body: JSON.stringify({ contents: [{ parts: [{ text: 'a banana in a spacesuit' }] }] }),
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const costUsd = Number(res.trailers['x-nanogate-cost-usd']);
    const line = requestLines().find((l) => l['route'] === '/v1beta/models/*');
    expect(line).toMatchObject({
      tenant: 'design',
      keyId: expect.stringMatching(/^key_[0-9a-f]{16}$/),
      modelAsked: 'NANO-BANANA-PRO',
      model: res.headers['x-nanogate-model'],
      status: 200,
      ms: expect.any(Number),
      attempts: 2,
      images: 1,
      costUsd,
    });
    expect(line!['inputTokens']).toBeGreaterThan(0);
    expect(line!['outputTokens']).toBeGreaterThan(0);
    expect(line!['costUsd']).toBeGreaterThan(0);
  });

  it('adds up every call of an OpenAI request with n images', async () => {
    const res = await request(`${gw.url}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TENANT_KEY}` },
      body: JSON.stringify({ model: 'nano-banana-pro', prompt: 'two bananas', n: 2 }),
    });
    expect(res.statusCode).toBe(200);
    const answer = (await res.body.json()) as { usage: { cost_usd: number } };
    const line = requestLines().find((l) => l['route'] === '/v1/images/generations');
    expect(line).toMatchObject({ tenant: 'design', modelAsked: 'nano-banana-pro', status: 200, attempts: 2, images: 2 });
    expect(line!['costUsd']).toBeCloseTo(Number(answer.usage.cost_usd), 6);
  });

  it('names the model asked even when it is refused', async () => {
    const res = await request(`${gw.url}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TENANT_KEY}` },
      body: JSON.stringify({ model: 'no-such-banana', prompt: 'x' }),
    });
    expect(res.statusCode).toBe(404);
    await res.body.dump();
    expect(requestLines().find((l) => l['route'] === '/v1/images/generations')).toMatchObject({ tenant: 'design', modelAsked: 'no-such-banana', status: 404 });
  });

  it('shows the budget period a rebuilt counter belongs to (the redaction of "key" does not hide it)', async () => {
    const res = await request(`${gw.url}/v1beta/models/nano-banana-pro:generateContent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': BUDGET_KEY },
      body: JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] }),
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const rebuilt = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'budget counter rebuilt from the ledger');
    expect(rebuilt.length).toBeGreaterThan(0);
    expect(rebuilt[0]).toMatchObject({ tenantId: 'budgeted', period: 'daily', periodKey: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) });
    expect(JSON.stringify(rebuilt)).not.toContain('[redacted]');
  });
});

describe('metrics', () => {
  it('count every attempt sent to Google, retries included, and the cost in USD', async () => {
    mock.enqueue({ kind: 'unavailable' }, { kind: 'internal' });
    const res = await request(`${gw.url}/v1beta/models/nano-banana-pro:generateContent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY, te: 'trailers' },
      body: JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] }),
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const model = String(res.headers['x-nanogate-model']);
    const costUsd = Number(res.trailers['x-nanogate-cost-usd']);
    const text = await metricsText();
    expect(sample(text, `nanogate_upstream_attempts_total{model="${model}",outcome="503"}`)).toBe(1);
    expect(sample(text, `nanogate_upstream_attempts_total{model="${model}",outcome="500"}`)).toBe(1);
    expect(sample(text, `nanogate_upstream_attempts_total{model="${model}",outcome="200"}`)).toBe(1);
    expect(sample(text, `nanogate_upstream_calls_total{model="${model}",status="200"}`)).toBe(1);
    expect(sample(text, `nanogate_cost_usd_total{tenant="design",model="${model}"}`)).toBeCloseTo(costUsd, 9);
    expect(costUsd).toBeGreaterThan(0);
    expect(costUsd).toBeLessThan(1);
    expect(text).not.toContain('nano_usd');
  });

  it('never read NaN, nor a minimum of 9.2e9 s, even when scraped twice at once or right at start', async () => {
    const metrics = new GatewayMetrics();
    const scrapes = [await metrics.registry.metrics(), await metrics.registry.metrics(), await metrics.registry.metrics()];
    for (const text of scrapes) {
      const values = text
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => ({ line: l, value: Number(l.slice(l.lastIndexOf(' ') + 1)) }));
      expect(values.length).toBeGreaterThan(20);
      expect(values.filter((v) => !Number.isFinite(v.value)).map((v) => v.line)).toEqual([]);
      expect(sample(text, 'nanogate_nodejs_eventloop_lag_min_seconds')).toBeLessThan(60);
    }
  });
});
