/**
 * #11 item 4 through the whole gateway: the model table checked against the mock Google's list
 * at start and on its interval (driven by hand), Google's modelStatus read from answers on both
 * faces, and what an operator sees of it: a warning logged once, /readyz detail (200,
 * degraded), the metric, and GET /admin/models.
 */
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { IntervalTimers } from '../../src/models/live-check.js';
import { ManualClock } from '../../src/time/clock.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { freePort } from '../support/free-port.js';
import { ADMIN_TOKEN, defaultConfigYaml, GOOGLE_KEY, startGateway, TENANT_KEY, type RunningGateway } from '../support/gateway-harness.js';

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

class HandTimers implements IntervalTimers {
  readonly intervals: Array<{ fn: () => void; ms: number; cleared: boolean }> = [];
  setInterval(fn: () => void, ms: number): unknown {
    const entry = { fn, ms, cleared: false };
    this.intervals.push(entry);
    return entry;
  }
  clearInterval(handle: unknown): void {
    (handle as { cleared: boolean }).cleared = true;
  }
  tick(): void {
    for (const i of this.intervals) if (!i.cleared) i.fn();
  }
}

interface Readiness {
  statusCode: number;
  body: { status: string; checks: Record<string, string> };
}

async function readyz(g: RunningGateway): Promise<Readiness> {
  const res = await request(`${g.url}/readyz`);
  return { statusCode: res.statusCode, body: (await res.body.json()) as Readiness['body'] };
}

async function metric(g: RunningGateway, line: string): Promise<number | undefined> {
  const text = await (await request(`${g.url}/metrics`)).body.text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

interface AdminModels {
  models: Array<Record<string, unknown>>;
  liveCheck: { checkedAt: string | null; findings: Array<Record<string, unknown>>; failures: Array<Record<string, unknown>> } | null;
}

async function adminModels(g: RunningGateway): Promise<AdminModels> {
  const res = await request(`${g.url}/admin/models`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.statusCode).toBe(200);
  return (await res.body.json()) as AdminModels;
}

const warnings = (g: RunningGateway, finding: string) =>
  g.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 40 && l['finding'] === finding);

describe('the live check at start and on its interval', () => {
  it('shows a model Google does not list in /readyz (200, degraded), the metric and the admin API, logged once', async () => {
    const timers = new HandTimers();
    // Before 2.5 Flash Image's shutdown: the table still serves it; the mock's Google lists it no more.
    const clock = new ManualClock('2026-09-01T00:00:00Z');
    gw = await startGateway({ upstreamUrl: mock.url, clock, modelLiveCheck: { timers } });
    await gw.gateway.liveCheck.idle();
    expect(timers.intervals.map((i) => i.ms)).toEqual([6 * 3_600_000]);
    expect(mock.received.map((r) => `${r.method} ${r.path} ${r.headers['x-goog-api-key']}`)).toEqual([`GET /v1beta/models ${GOOGLE_KEY}`]);

    const ready = await readyz(gw);
    expect(ready.statusCode).toBe(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.checks['models']).toBe(
      'degraded: 1 model finding(s): gemini-2.5-flash-image is in the model table but Google does not list it for project default: calls to it will fail (404)',
    );
    expect(await metric(gw, 'nanogate_model_check_findings{project="default",kind="not_listed"}')).toBe(1);
    expect(await metric(gw, 'nanogate_model_checks_total{project="default",outcome="ok"}')).toBe(1);

    const { liveCheck } = await adminModels(gw);
    expect(liveCheck).toEqual({
      checkedAt: '2026-09-01T00:00:00.000Z',
      findings: [
        {
          kind: 'not_listed',
          project: 'default',
          model: 'gemini-2.5-flash-image',
          message: 'gemini-2.5-flash-image is in the model table but Google does not list it for project default: calls to it will fail (404)',
          since: '2026-09-01T00:00:00.000Z',
        },
      ],
      failures: [],
    });

    // The next interval finds it again: no second warning. After the shutdown it is gone.
    timers.tick();
    await gw.gateway.liveCheck.idle();
    expect(warnings(gw, 'not_listed')).toHaveLength(1);
    clock.set('2026-10-02T00:00:00Z');
    timers.tick();
    await gw.gateway.liveCheck.idle();
    expect(await readyz(gw)).toMatchObject({ statusCode: 200, body: { status: 'ready', checks: { models: 'ok' } } });
    expect(await metric(gw, 'nanogate_model_check_findings{project="default",kind="not_listed"}')).toBe(0);
  });

  it('finds nothing against today\'s lineup, and /readyz stays ready', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, clock: new ManualClock('2026-11-28T12:00:00Z'), modelLiveCheck: { timers: new HandTimers() } });
    await gw.gateway.liveCheck.idle();
    expect(await readyz(gw)).toMatchObject({ statusCode: 200, body: { status: 'ready', checks: { models: 'ok' } } });
    expect((await adminModels(gw)).liveCheck).toEqual({ checkedAt: '2026-11-28T12:00:00.000Z', findings: [], failures: [] });
  });

  it('starts and serves with Google unreachable: the failed check is reported, readiness is untouched', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const timers = new HandTimers();
    gw = await startGateway({ upstreamUrl: down, configYaml: defaultConfigYaml(down, '$DB_PATH'), modelLiveCheck: { timers } });
    const health = await request(`${gw.url}/healthz`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
    await gw.gateway.liveCheck.idle();
    const { liveCheck } = await adminModels(gw);
    expect(liveCheck?.findings).toEqual([]);
    expect(liveCheck?.failures).toMatchObject([{ project: 'default', error: expect.stringMatching(/^Could not reach Google/) }]);
    expect((await readyz(gw)).body.checks['models']).toBe('ok');
    expect(await metric(gw, 'nanogate_model_checks_total{project="default",outcome="failed"}')).toBe(1);
  });

  it('stops its interval when the gateway closes', async () => {
    const timers = new HandTimers();
    gw = await startGateway({ upstreamUrl: mock.url, modelLiveCheck: { timers } });
    await gw.close();
    gw = undefined;
    expect(timers.intervals[0]!.cleared).toBe(true);
  });

  it('is off in the test harness unless asked for: nothing reaches Google at start', async () => {
    gw = await startGateway({ upstreamUrl: mock.url });
    await gw.gateway.liveCheck.idle();
    expect(mock.received).toEqual([]);
    expect((await adminModels(gw)).liveCheck).toBeNull();
  });
});

describe("Google's modelStatus on answers", () => {
  const native = (g: RunningGateway, model: string, action: string) =>
    request(`${g.url}/v1beta/models/${model}:${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY },
      body: JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] }),
    });

  it('is read as the answer streams past, on either face and any framing, and warned of once', async () => {
    gw = await startGateway({ upstreamUrl: mock.url });
    for (const action of ['generateContent', 'streamGenerateContent?alt=sse', 'streamGenerateContent']) {
      const res = await native(gw, 'gemini-3.1-flash-image', action);
      expect(res.statusCode).toBe(200);
      // The answer reaches the client as Google sent it, modelStatus included.
      expect(await res.body.text()).toContain('"modelStage"');
    }
    const openai = await request(`${gw.url}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TENANT_KEY}` },
      body: JSON.stringify({ model: 'gemini-3.1-flash-image', prompt: 'a banana' }),
    });
    expect(openai.statusCode).toBe(200);
    await openai.body.dump();

    // Metering (and so the report) follows the answer's end.
    await expect.poll(() => warnings(gw!, 'model_status').length).toBe(1);
    expect(warnings(gw, 'model_status')[0]).toMatchObject({
      project: 'default',
      model: 'gemini-3.1-flash-image',
      modelStatus: { modelStage: 'LEGACY', message: 'gemini-3.1-flash-image is deprecated; migrate to gemini-nano-banana-2.1.' },
    });
    const { liveCheck } = await adminModels(gw);
    expect(liveCheck).toMatchObject({
      checkedAt: null,
      findings: [{ kind: 'model_status', project: 'default', model: 'gemini-3.1-flash-image', modelStatus: { modelStage: 'LEGACY' } }],
    });
    expect(await metric(gw, 'nanogate_model_check_findings{project="default",kind="model_status"}')).toBe(1);
    const ready = await readyz(gw);
    expect(ready.statusCode).toBe(200);
    expect(ready.body.checks['models']).toMatch(/^degraded: 1 model finding\(s\): Google reports gemini-3.1-flash-image as LEGACY/);
  });

  it('raises nothing for a model whose answers carry none', async () => {
    gw = await startGateway({ upstreamUrl: mock.url });
    const res = await native(gw, 'nano-banana-pro', 'generateContent');
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(warnings(gw, 'model_status')).toEqual([]);
    expect((await readyz(gw)).body.checks['models']).toBe('ok');
  });
});

describe('GET /admin/models', () => {
  it('lists every model of the table with its lifecycle, prices per image and limits, in the shape the console reads', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, clock: new ManualClock('2026-11-28T12:00:00Z') });
    const { models } = await adminModels(gw);
    expect(models.map((m) => m['id'])).toEqual([
      'gemini-3-pro-image',
      'gemini-nano-banana-2.1',
      'gemini-3.1-flash-lite-image',
      'gemini-3.1-flash-image',
      'gemini-2.5-flash-image',
      'gemini-3-pro-image-preview',
      'gemini-3.1-flash-image-preview',
      'gemini-2.5-flash-image-preview',
    ]);
    expect(models[0]).toEqual({
      id: 'gemini-3-pro-image',
      displayName: 'Nano Banana Pro',
      // The harness config may add its own alias (poster-model) to these.
      aliases: expect.arrayContaining(['nano-banana-pro', 'nano-banana-pro-preview']),
      stage: 'ga',
      released: '2026-05-28',
      deprecatedAt: null,
      shutdownAt: null,
      replacement: null,
      retired: false,
      servedBy: 'gemini-3-pro-image',
      imageSizes: ['1K', '2K', '4K'],
      pricesUsdPerImage: {
        standard: { '1K': '0.134400', '2K': '0.134400', '4K': '0.240000' },
        batch: { '1K': '0.067200', '2K': '0.067200', '4K': '0.120000' },
      },
      batch: true,
      priceFrom: '2025-11-20',
      limits: {
        free: { rpm: 0, tpm: 0, rpd: 0, ipm: 0 },
        tier1: { rpm: 20, tpm: 100000, rpd: 250, ipm: 20 },
        tier2: { rpm: 100, tpm: 1000000, rpd: 2000, ipm: 100 },
        tier3: { rpm: 500, tpm: 4000000, rpd: 20000, ipm: 500 },
      },
      batchTokens: { free: 0, tier1: 2000000, tier2: 20000000, tier3: 200000000 },
    });
    expect(models.find((m) => m['id'] === 'gemini-3-pro-image-preview')).toMatchObject({
      retired: true,
      stage: 'preview',
      deprecatedAt: '2026-05-28T00:00:00.000Z',
      shutdownAt: '2026-06-25T00:00:00.000Z',
      replacement: 'gemini-3-pro-image',
      servedBy: 'gemini-3-pro-image',
    });
    expect(models.find((m) => m['id'] === 'gemini-2.5-flash-image')).toMatchObject({ retired: true, servedBy: 'gemini-3.1-flash-lite-image', imageSizes: [] });
  });

  it('needs the admin token, and takes only GET', async () => {
    gw = await startGateway({ upstreamUrl: mock.url });
    const anonymous = await request(`${gw.url}/admin/models`);
    expect(anonymous.statusCode).toBe(401);
    await anonymous.body.dump();
    const post = await request(`${gw.url}/admin/models`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(post.statusCode).toBe(405);
    await post.body.dump();
  });
});
