/**
 * GeminiRelay with its real collaborators: the in-memory quota store (quota and budgets), a
 * ledger whose flush timer never fires (its backlog counts the records), an UpstreamClient on
 * the mock Google, and a manual clock. Faults come from the mock.
 */
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { GenerateContentRequest } from '../../src/gemini/types.js';
import type { ModelSpec } from '../../src/models/catalog.js';
import { loadModelTable } from '../../src/models/model-table.js';
import { MemoryQuotaStore } from '../../src/quota/memory-store.js';
import { QuotaService } from '../../src/quota/quota-service.js';
import { GeminiRelay, type CallRequest, type ProjectRuntime, type StartedCall } from '../../src/relay/gemini-relay.js';
import type { Caller, Tenant } from '../../src/tenants/registry.js';
import { ManualClock } from '../../src/time/clock.js';
import { UpstreamClient } from '../../src/upstream/client.js';
import { BudgetService } from '../../src/usage/budget.js';
import { UsageLedger } from '../../src/usage/ledger.js';
import type { UsageRecord } from '../../src/usage/record.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { PROMPT, readAll, relayCall } from '../support/relay-calls.js';

const GOOGLE_KEY = 'relay-test-google-key';
const START = '2026-11-27T18:00:00Z'; // 10:00 in Los Angeles: Pacific day 2026-11-27
// Models the mock (like Google on this day) serves; the relay calls the model it is handed.
const PRO = model('gemini-3-pro-image');
const FLASH = model('gemini-nano-banana-2.1');

function model(id: string): ModelSpec {
  const m = loadModelTable().byId.get(id);
  if (!m) throw new Error(`no model ${id}`);
  return m;
}

let mock: MockGoogle;
let db: Database;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
  db = await openDatabase({ sqlitePath: ':memory:' });
  await db.migrate();
});
afterAll(async () => {
  await db?.close();
  await mock?.close();
});
beforeEach(() => mock.reset());

interface Rig {
  relay: GeminiRelay;
  clock: ManualClock;
  quota: QuotaService;
  ledger: UsageLedger;
  records: UsageRecord[];
  upstreamCalls: Array<[string, number]>;
}

const upstreams: UpstreamClient[] = [];
afterEach(async () => {
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

function rig(opts: { maxBacklog?: number } = {}): Rig {
  const clock = new ManualClock(START);
  const store = new MemoryQuotaStore();
  const logger = pino({ level: 'silent' });
  const quota = new QuotaService({ store, logger });
  const budgets = new BudgetService({ store, logger, loadSpendNanoUsd: async () => 0n });
  // The flush timer never fires: every record stays in the backlog, where the test counts it.
  const ledger = new UsageLedger({ db, logger, timers: { setTimeout: () => 0, clearTimeout: () => {} }, ...(opts.maxBacklog ? { maxBacklog: opts.maxBacklog } : {}) });
  // Backoff waits pass in virtual time: they move the clock instead of sleeping.
  const upstream = new UpstreamClient({ baseUrl: mock.url, timeoutMs: 5_000, retries: 2, sleep: async (ms) => clock.advance(ms), random: () => 0.5 });
  upstreams.push(upstream);
  const records: UsageRecord[] = [];
  const upstreamCalls: Array<[string, number]> = [];
  const relay = new GeminiRelay({
    upstream,
    quota,
    budgets,
    ledger,
    clock,
    logger,
    onUpstreamCall: (m, status) => upstreamCalls.push([m, status]),
    onRecord: (r) => records.push(r),
  });
  return { relay, clock, quota, ledger, records, upstreamCalls };
}

const project = (over: Partial<ProjectRuntime> = {}): ProjectRuntime => ({ id: 'default', apiKey: GOOGLE_KEY, tier: 'tier1', ...over });
const caller = (over: Partial<Tenant> = {}): Caller => ({ tenant: { id: 'design', projectId: 'default', source: 'config', ...over }, keyId: 'key_abc123' });
function call(over: Partial<CallRequest> = {}, body: GenerateContentRequest = PROMPT): CallRequest {
  return relayCall({ requestId: 'req_relay_1', caller: caller(), project: project(), model: PRO }, over, body);
}

/** Relays the answer to its end, as a face would, and waits for the metering. */
async function complete(started: StartedCall): Promise<{ text: string; record: UsageRecord }> {
  const text = started.ok ? (await readAll(started.body)).toString('utf8') : started.body.toString('utf8');
  const { record } = await started.outcome;
  return { text, record };
}

async function refusal(p: Promise<unknown>): Promise<GatewayError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(e)}`);
  return e;
}

async function used(r: Rig, m: ModelSpec, dimension: 'rpm' | 'tpm' | 'rpd'): Promise<number> {
  const rows = await r.quota.snapshot(project(), [m], r.clock.nowMs());
  return rows.find((row) => row.dimension === dimension)?.used ?? -1;
}

const generations = () => mock.received.filter((x) => /:(stream)?[gG]enerateContent$/.test(x.path));

describe('GeminiRelay: the call Google receives', () => {
  const cases: Array<[string, Partial<CallRequest>, string, Record<string, string>]> = [
    ['generateContent', {}, '/v1beta/models/gemini-3-pro-image:generateContent', {}],
    ['streamGenerateContent as SSE', { action: 'streamGenerateContent', framing: 'sse' }, '/v1beta/models/gemini-3-pro-image:streamGenerateContent', { alt: 'sse' }],
    ['streamGenerateContent as a JSON array', { action: 'streamGenerateContent', framing: 'json-array' }, '/v1beta/models/gemini-3-pro-image:streamGenerateContent', {}],
    ['a call under /v1', { apiVersion: 'v1' }, '/v1/models/gemini-3-pro-image:generateContent', {}],
  ];
  for (const [name, over, path, query] of cases) {
    it(`sends ${name} to the canonical model with the project key and the body as given`, async () => {
      const r = rig();
      const req = call(over);
      await complete(await r.relay.start(req));
      const [seen] = generations();
      expect(seen?.path).toBe(path);
      expect(seen?.query).toEqual(query);
      expect(seen?.headers['x-goog-api-key']).toBe(GOOGLE_KEY);
      expect(seen?.body.equals(req.body)).toBe(true);
      expect(r.upstreamCalls).toEqual([['gemini-3-pro-image', 200]]);
    });
  }
});

describe('GeminiRelay: admission comes first (contract §7)', () => {
  it('counts the call against the quota before it leaves', async () => {
    const r = rig();
    const started = await r.relay.start(call());
    // Admitted and counted although Google's answer has not been read yet.
    expect(await used(r, PRO, 'rpm')).toBe(1);
    expect(started.admission).toMatchObject({ projectId: 'default', tenantId: 'design', model: 'gemini-3-pro-image', admittedAtMs: Date.parse(START) });
    await complete(started);
  });

  it('refuses a call over quota without calling Google, counting or recording it', async () => {
    const r = rig();
    const limited = project({ limits: { 'gemini-3-pro-image': { rpm: 1 } } });
    await complete(await r.relay.start(call({ project: limited })));
    const err = await refusal(r.relay.start(call({ project: limited })));
    expect(err.code).toBe('QUOTA_EXHAUSTED');
    expect(err.details.quota).toMatchObject({ scope: 'project', dimension: 'rpm', limit: 1, used: 1 });
    expect(generations()).toHaveLength(1);
    expect(await used(r, PRO, 'rpm')).toBe(1);
    expect(r.records).toHaveLength(1);
    expect(r.ledger.backlog()).toBe(1);
  });

  it('gives back the budget a refused call had reserved', async () => {
    const r = rig();
    const hold = r.relay.holdNanoUsd(call(), Date.parse(START));
    // Room for one hold, not two: a hold that leaked would refuse the later call.
    const budgeted = caller({ budget: { dailyUsd: (1.5 * hold) / 1e9 }, limits: { rpm: 1 } });
    await r.quota.admit({ project: project(), tenantId: 'design', tenantLimits: { rpm: 1 }, model: PRO, estimatedInputTokens: 1, images: 1, nowMs: r.clock.nowMs() });

    const err = await refusal(r.relay.start(call({ caller: budgeted })));
    expect(err.code).toBe('QUOTA_EXHAUSTED');
    expect(err.details.quota?.scope).toBe('tenant');

    r.clock.advance(60_000); // the tenant's minute frees; the day's budget does not
    const later = await r.relay.start(call({ caller: budgeted }));
    expect(later.status).toBe(200);
    await complete(later);
  });

  it('refuses a call over budget before admission, counting nothing', async () => {
    const r = rig();
    const broke = caller({ budget: { dailyUsd: 0.000001 } });
    const err = await refusal(r.relay.start(call({ caller: broke })));
    expect(err.code).toBe('BUDGET_EXCEEDED');
    expect(await used(r, PRO, 'rpm')).toBe(0);
    expect(generations()).toHaveLength(0);
    expect(r.records).toHaveLength(0);
  });

  it('refuses a project without a Google key, counting nothing', async () => {
    const r = rig();
    const err = await refusal(r.relay.start(call({ project: project({ apiKey: '' }) })));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(err.message).toContain('GEMINI_API_KEY');
    expect(await used(r, PRO, 'rpm')).toBe(0);
    expect(generations()).toHaveLength(0);
  });

  it('refuses new calls while the usage backlog is full, counting nothing', async () => {
    const r = rig({ maxBacklog: 1 });
    await complete(await r.relay.start(call()));
    const err = await refusal(r.relay.start(call()));
    expect(err.code).toBe('LEDGER_BACKLOG_FULL');
    expect(await used(r, PRO, 'rpm')).toBe(1);
    expect(generations()).toHaveLength(1);
  });

  it("replaces the admission's token estimate by Google's promptTokenCount", async () => {
    const r = rig();
    // CJK text: the gateway estimates ~1.5 characters a token, the mock counts 4.
    const started = await r.relay.start(call({}, { contents: [{ parts: [{ text: '香蕉'.repeat(30) }] }] }));
    // Admitted at the estimate (60 CJK characters: 40 tokens)…
    expect(started.admission.estimatedInputTokens).toBe(40);
    const { record } = await complete(started);
    // …and counted at Google's figure once the answer is metered.
    const actual = (record.usageMetadata as { promptTokenCount: number }).promptTokenCount;
    expect(actual).toBe(15);
    expect(await used(r, PRO, 'tpm')).toBe(15);
  });
});

describe("GeminiRelay: Google's 429 cools the model down (contract §7)", () => {
  it("refuses the model for Google's retryDelay, then admits again", async () => {
    const r = rig();
    mock.enqueue({ kind: 'rateLimit', retryDelay: '37s' });
    const limited = await r.relay.start(call());
    expect(limited.ok).toBe(false);
    expect(limited.status).toBe(429);
    if (!limited.ok) expect(limited.retryAfterMs).toBe(37_000);
    await complete(limited);

    const cooling = await refusal(r.relay.start(call()));
    expect(cooling.code).toBe('QUOTA_EXHAUSTED');
    expect(cooling.details.quota).toMatchObject({ dimension: 'cooldown', retryAfterMs: 37_000, model: 'gemini-3-pro-image' });
    // Another model of the same project is not cooling down.
    await complete(await r.relay.start(call({ model: FLASH, modelAsked: 'nano-banana-2' })));

    r.clock.advance(37_000);
    const again = await r.relay.start(call());
    expect(again.status).toBe(200);
    await complete(again);
    expect(generations().map((g) => g.path)).toEqual([
      '/v1beta/models/gemini-3-pro-image:generateContent',
      '/v1beta/models/gemini-nano-banana-2.1:generateContent',
      '/v1beta/models/gemini-3-pro-image:generateContent',
    ]);
  });

  it('cools down for 60 s when the 429 gives no delay', async () => {
    const r = rig();
    mock.enqueue({ kind: 'rateLimit' });
    await complete(await r.relay.start(call()));
    r.clock.advance(59_999);
    expect((await refusal(r.relay.start(call()))).details.quota?.dimension).toBe('cooldown');
    r.clock.advance(1);
    await complete(await r.relay.start(call()));
    expect(generations()).toHaveLength(2);
  });

  it('does not cool down after other errors', async () => {
    const r = rig();
    mock.enqueue({ kind: 'status', status: 400 });
    expect((await r.relay.start(call())).status).toBe(400);
    expect((await r.relay.start(call())).status).toBe(200);
  });
});

describe('GeminiRelay: one usage record per upstream call (contract §8)', () => {
  it('records a successful call with who, what, tokens, cost and latency', async () => {
    const r = rig();
    // One 503 first: the retry's backoff (125 ms at half jitter, in virtual time) is the call's latency.
    mock.enqueue({ kind: 'unavailable' });
    const started = await r.relay.start(call({ user: 'u-42' }));
    const { text, record } = await complete(started);
    const usage = (JSON.parse(text) as { usageMetadata: { promptTokenCount: number; candidatesTokenCount: number; thoughtsTokenCount?: number } }).usageMetadata;

    expect(r.records).toEqual([record]);
    expect(r.ledger.backlog()).toBe(1);
    expect(record).toMatchObject({
      timeMs: Date.parse(START),
      day: '2026-11-27',
      requestId: 'req_relay_1',
      tenantId: 'design',
      keyId: 'key_abc123',
      projectId: 'default',
      route: 'native.generateContent',
      modelAsked: 'nano-banana-pro',
      model: 'gemini-3-pro-image',
      imageSize: '1K', // the model's default: the request named none
      imagesReturned: 1,
      inputTokens: usage.promptTokenCount,
      outputImageTokens: 1120, // a 1K Pro image (reference/pricing.md §2)
      httpStatus: 200,
      finishReason: 'STOP',
      latencyMs: 125,
      user: 'u-42',
      batch: false,
      flags: [],
      usageMetadata: usage,
    });
    expect(record.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(record.costNanoUsd).toBeGreaterThan(0);
    // The price row in force at the call (config/models.yaml: Pro's one row, from 2025-11-20).
    expect(record.priceVersion).toMatch(/^gemini-3-pro-image@2025-11-20#[0-9a-f]{8}$/);
    expect(record.costNanoUsd).toBe((await started.outcome).cost.costNanoUsd);
  });

  it('marks a streamed answer, and an answer without an image', async () => {
    const r = rig();
    const { record: streamed } = await complete(await r.relay.start(call({ action: 'streamGenerateContent', framing: 'sse', route: 'native.streamGenerateContent' })));
    expect(streamed).toMatchObject({ httpStatus: 200, imagesReturned: 1, route: 'native.streamGenerateContent' });
    expect(streamed.flags).toEqual(['streamed']);

    mock.enqueue({ kind: 'textOnly' });
    const { record: textOnly } = await complete(await r.relay.start(call()));
    expect(textOnly.imagesReturned).toBe(0);
    expect(textOnly.flags).toContain('no_image');
    expect(r.ledger.backlog()).toBe(2);
  });

  it("records Google's error answer once, at no cost", async () => {
    const r = rig();
    mock.enqueue({ kind: 'status', status: 400 });
    const started = await r.relay.start(call());
    expect(started.status).toBe(400);
    const { record } = await complete(started);
    expect(record).toMatchObject({ httpStatus: 400, imagesReturned: 0, costNanoUsd: 0, finishReason: null, usageMetadata: null, flags: ['upstream_error'] });
    expect(r.records).toHaveLength(1);
  });

  it('records once a call that was retried, with the final status', async () => {
    const r = rig();
    mock.enqueue({ kind: 'unavailable' }, { kind: 'internal' });
    const { record } = await complete(await r.relay.start(call()));
    expect(generations()).toHaveLength(3);
    expect(record.httpStatus).toBe(200);
    expect(r.records).toHaveLength(1);
    expect(r.upstreamCalls).toEqual([['gemini-3-pro-image', 200]]);
  });

  it('counts each retry against the quota, as Google does, and makes none the quota has no room for', async () => {
    const r = rig();
    mock.enqueue({ kind: 'unavailable' });
    await complete(await r.relay.start(call()));
    expect(await used(r, PRO, 'rpm')).toBe(2);

    const limited = project({ limits: { 'gemini-3-pro-image': { rpm: 3 } } });
    mock.enqueue({ kind: 'unavailable' });
    // The first call and its retry took two of the minute's three requests; this call takes
    // the third, so its retry finds no room and is not made: Google's 503 stands.
    const started = await r.relay.start(call({ project: limited }));
    expect(started.status).toBe(503);
    const { record } = await complete(started);
    expect(record.httpStatus).toBe(503);
    expect(generations()).toHaveLength(3);
    expect(await used(r, PRO, 'rpm')).toBe(3);
  });

  it('records a call Google could not be reached for as a 502 upstream error', async () => {
    const r = rig();
    mock.setModelFault('gemini-3-pro-image', { kind: 'drop' });
    const err = await refusal(r.relay.start(call()));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(r.records).toHaveLength(1);
    expect(r.records[0]).toMatchObject({ httpStatus: 502, costNanoUsd: 0, flags: ['upstream_error'] });
  });
});

describe('GeminiRelay: draining at shutdown', () => {
  it('counts a call in flight until it is metered, and drain() waits for it', async () => {
    const r = rig();
    expect(await r.relay.drain(1_000)).toBe(true);
    mock.enqueue({ kind: 'slowBody', chunkBytes: 64, intervalMs: 60_000 });
    const controller = new AbortController();
    const started = await r.relay.start(call({ signal: controller.signal }));
    expect(r.relay.inFlight).toBe(1);
    let drained: boolean | undefined;
    const draining = r.relay.drain(60_000).then((d) => (drained = d));
    await new Promise((resolve) => setImmediate(resolve));
    expect(drained).toBeUndefined();
    if (started.ok) started.body.attach({ data: () => true, end: () => {}, error: () => {} });
    controller.abort();
    expect(await draining).toBe(true);
    expect(r.relay.inFlight).toBe(0);
    expect(r.records).toHaveLength(1);
  });

  it('counts a refused call out at once', async () => {
    const r = rig();
    await refusal(r.relay.start(call({ caller: caller({ budget: { dailyUsd: 0.000001 } }) })));
    expect(r.relay.inFlight).toBe(0);
  });
});

describe('GeminiRelay: the caller going away', () => {
  it('records the call as aborted when the signal aborts before Google answers', async () => {
    const r = rig();
    mock.setModelFault('gemini-3-pro-image', { kind: 'hang' });
    const controller = new AbortController();
    const pending = refusal(r.relay.start(call({ signal: controller.signal })));
    setImmediate(() => controller.abort());
    expect((await pending).code).toBe('UPSTREAM_UNAVAILABLE');
    expect(r.records).toHaveLength(1);
    expect(r.records[0]?.flags).toEqual(['aborted']);
    expect(r.records[0]?.httpStatus).toBe(502);
  });

  it('records the call as aborted when the signal aborts while the answer streams', async () => {
    const r = rig();
    // 64 bytes, then a long pause: the abort lands mid-body.
    mock.enqueue({ kind: 'slowBody', chunkBytes: 64, intervalMs: 60_000 });
    const controller = new AbortController();
    const started = await r.relay.start(call({ signal: controller.signal }));
    expect(started.ok).toBe(true);
    if (!started.ok) return;
    const read = readAll(started.body).then(
      () => 'ended',
      () => 'broke off',
    );
    controller.abort();
    expect(await read).toBe('broke off');
    const { record } = await started.outcome;
    expect(record.httpStatus).toBe(200);
    expect(record.flags).toContain('aborted');
    expect(r.records).toEqual([record]);
  });
});
