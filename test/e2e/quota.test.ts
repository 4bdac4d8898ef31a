import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ManualClock } from '../../src/time/clock.js';
import { hashKey } from '../../src/tenants/keys.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { ADMIN_TOKEN, GOOGLE_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const KEY = 'quota-tenant-key';
const SMALL_KEY = 'quota-small-tenant-key';

/** A config whose project id is unique to this run, so counters in the shared Redis never collide. */
function config(projectId: string, limits: string): string {
  return `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 0 }
projects:
  - id: ${projectId}
    apiKey: ${GOOGLE_KEY}
    tier: tier1
    limits:
      # nano-banana, which these tests call, is Nano Banana 2 Lite (config/models.yaml).
      gemini-3.1-flash-lite-image: ${limits}
tenants:
  - id: big
    project: ${projectId}
    keys: ["${hashKey(KEY)}"]
  - id: small
    project: ${projectId}
    keys: ["${hashKey(SMALL_KEY)}"]
    limits: { rpm: 2 }
database: { path: $DB_PATH }
`;
}

const body = JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] });

function generate(gw: RunningGateway, key = KEY) {
  return request(`${gw.url}/v1beta/models/nano-banana:generateContent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': key },
    body,
  });
}

function openaiGenerate(gw: RunningGateway, key = KEY) {
  return request(`${gw.url}/v1/images/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'nano-banana', prompt: 'a banana' }),
  });
}

interface GoogleError {
  error: { code: number; status: string; details: Array<Record<string, unknown>> };
}

const detail = (e: GoogleError, type: string) => e.error.details.find((d) => d['@type'] === `type.googleapis.com/google.rpc.${type}`);
const seconds = (duration: unknown) => Number(String(duration).replace(/s$/, ''));

let mock: MockGoogle;
let clock: ManualClock;
let gateways: RunningGateway[] = [];
let projectId = '';

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
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

async function fleet(count: number, limits: string): Promise<RunningGateway[]> {
  projectId = `p-${randomBytes(4).toString('hex')}`;
  for (let i = 0; i < count; i++) {
    gateways.push(await startGateway({ upstreamUrl: mock.url, configYaml: config(projectId, limits), redisUrl: inject('redisUrl'), clock }));
  }
  return gateways;
}

describe('quota shared by gateway instances on one Redis', () => {
  it('lets exactly 7 of 60 concurrent requests through three instances reach Google against rpd 7', async () => {
    const gws = await fleet(3, '{ rpd: 7 }');
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => generate(gws[i % 3]!)));
    const statuses = await Promise.all(answers.map(async (a) => (await a.body.dump(), a.statusCode)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(7);
    expect(statuses.filter((s) => s === 429)).toHaveLength(53);
    expect(mock.received).toHaveLength(7);
  });

  it('refuses in Google\'s 429 shape with the day quota id and a retry delay until Pacific midnight', async () => {
    const [gw] = await fleet(1, '{ rpd: 1 }');
    await (await generate(gw!)).body.dump();
    const refused = await generate(gw!);
    expect(refused.statusCode).toBe(429);
    const json = (await refused.body.json()) as GoogleError;
    expect(json.error.status).toBe('RESOURCE_EXHAUSTED');
    const violation = (detail(json, 'QuotaFailure')!['violations'] as Array<Record<string, unknown>>)[0]!;
    expect(violation['quotaId']).toMatch(/^GenerateRequestsPerDayPerProjectPerModel/);
    expect(violation['quotaValue']).toBe('1');
    expect(violation['quotaDimensions']).toMatchObject({ model: 'gemini-3.1-flash-lite-image' });
    // 17:00Z on 2026-06-15 is 10:00 PDT: midnight Pacific is 14 hours away.
    expect(seconds(detail(json, 'RetryInfo')!['retryDelay'])).toBe(14 * 3600);
    expect(refused.headers['retry-after']).toBe(String(14 * 3600));
    // A refusal still says what it cost, and which model it concerned.
    expect(refused.headers['x-nanogate-cost-usd']).toBe('0.000000');
    expect(refused.headers['x-nanogate-model']).toBe('gemini-3.1-flash-lite-image');
  });

  it('refuses the 4th request in a minute against rpm 3 until the first ages out', async () => {
    const [gw] = await fleet(1, '{ rpm: 3 }');
    for (let i = 0; i < 3; i++) {
      await (await generate(gw!)).body.dump();
      clock.advance(10_000);
    }
    const refused = await generate(gw!);
    expect(refused.statusCode).toBe(429);
    const json = (await refused.body.json()) as GoogleError;
    const delay = seconds(detail(json, 'RetryInfo')!['retryDelay']);
    expect(delay).toBeGreaterThan(0);
    expect(delay).toBeLessThan(60);
    expect(delay).toBe(30);
    clock.advance(30_000);
    expect((await generate(gw!)).statusCode).toBe(200);
  });

  it('keeps a tenant inside its own share and does not count its refusals against the project', async () => {
    const [gw] = await fleet(1, '{ rpm: 5 }');
    for (let i = 0; i < 2; i++) expect((await generate(gw!, SMALL_KEY)).statusCode).toBe(200);
    const refused = await generate(gw!, SMALL_KEY);
    expect(refused.statusCode).toBe(429);
    const json = (await refused.body.json()) as GoogleError;
    expect((detail(json, 'QuotaFailure')!['violations'] as Array<Record<string, unknown>>)[0]!['quotaId']).toMatch(/Tenant/);
    // The project had 5: two used by the small tenant, three left for the other.
    for (let i = 0; i < 3; i++) expect((await generate(gw!)).statusCode).toBe(200);
    expect((await generate(gw!)).statusCode).toBe(429);
    expect(mock.received).toHaveLength(5);
  });

  it('cools a project and model down after Google\'s 429 for its retryDelay, on every instance', async () => {
    const gws = await fleet(2, '{ rpm: 100 }');
    mock.enqueue({ kind: 'rateLimit', retryDelay: '20s' });
    expect((await generate(gws[0]!)).statusCode).toBe(429);
    expect(mock.received).toHaveLength(1);
    const local = await generate(gws[1]!);
    expect(local.statusCode).toBe(429);
    const json = (await local.body.json()) as GoogleError;
    expect(seconds(detail(json, 'RetryInfo')!['retryDelay'])).toBe(20);
    expect(mock.received).toHaveLength(1);
    clock.advance(20_000);
    expect((await generate(gws[1]!)).statusCode).toBe(200);
  });

  it('refuses on the OpenAI face with rate_limit_exceeded and retry headers, and reports x-ratelimit on success', async () => {
    const [gw] = await fleet(1, '{ rpm: 1 }');
    const ok = await openaiGenerate(gw!);
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    expect(ok.headers['x-ratelimit-limit-requests']).toBe('1');
    expect(ok.headers['x-ratelimit-remaining-requests']).toBe('0');
    const refused = await openaiGenerate(gw!);
    expect(refused.statusCode).toBe(429);
    const json = (await refused.body.json()) as { error: { code: string } };
    expect(json.error.code).toBe('rate_limit_exceeded');
    expect(refused.headers['retry-after']).toBe('60');
    expect(refused.headers['retry-after-ms']).toBe('60000');
    expect(refused.headers['x-ratelimit-limit-requests']).toBe('1');
    expect(refused.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(refused.headers['x-ratelimit-reset-requests']).toBeDefined();
  });

  it('shows limit, used, remaining and resetAt per model and dimension to the admin', async () => {
    const [gw] = await fleet(1, '{ rpm: 10, rpd: 100 }');
    await (await generate(gw!)).body.dump();
    const res = await request(`${gw!.url}/admin/projects/${projectId}/quota`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.statusCode).toBe(200);
    const json = (await res.body.json()) as { models: Record<string, Record<string, { limit: number; used: number; remaining: number; resetAt: string }>> };
    expect(json.models['gemini-3.1-flash-lite-image']!['rpm']).toEqual({ limit: 10, used: 1, remaining: 9, resetAt: '2026-06-15T17:01:00.000Z' });
    expect(json.models['gemini-3.1-flash-lite-image']!['rpd']).toMatchObject({ limit: 100, used: 1, remaining: 99, resetAt: '2026-06-16T07:00:00.000Z' });
  });
});
