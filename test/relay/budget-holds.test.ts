/**
 * GeminiRelay's budget holds and corrections (#13.1, #13.3, #13.7) with real collaborators: the
 * in-memory store, an in-memory SQLite ledger, an UpstreamClient on the mock Google, a manual
 * clock. What a call holds, what it settles to, what it flags, and what quota it leaves counted.
 */
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { estimateRequest } from '../../src/gemini/request-inspect.js';
import type { GenerateContentRequest } from '../../src/gemini/types.js';
import { loadModelTable } from '../../src/models/model-table.js';
import { MemoryQuotaStore } from '../../src/quota/memory-store.js';
import { QuotaService, type QuotaProject } from '../../src/quota/quota-service.js';
import { GeminiRelay, type CallRequest, type StartedCall } from '../../src/relay/gemini-relay.js';
import type { Caller, KeySettings, Tenant } from '../../src/tenants/registry.js';
import { ManualClock } from '../../src/time/clock.js';
import { UpstreamClient } from '../../src/upstream/client.js';
import { BudgetService } from '../../src/usage/budget.js';
import { UsageLedger } from '../../src/usage/ledger.js';
import { holdCostNanoUsd, worstCaseCostNanoUsd } from '../../src/usage/pricing.js';
import type { UsageRecord } from '../../src/usage/record.js';
import { TextAllowance } from '../../src/usage/text-allowance.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { PROMPT, readAll, relayCall } from '../support/relay-calls.js';

const GOOGLE_KEY = 'holds-test-google-key';
const START = '2026-11-27T18:00:00Z';
const TABLE = loadModelTable();
const PRO = TABLE.byId.get('gemini-3-pro-image')!;

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

const upstreams: UpstreamClient[] = [];
afterEach(async () => {
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

interface Rig {
  relay: GeminiRelay;
  clock: ManualClock;
  quota: QuotaService;
  budgets: BudgetService;
  allowance: TextAllowance;
  records: UsageRecord[];
  overshoots: Array<[string, number]>;
}

function rig(opts: { holds?: 'sized' | 'strict' } = {}): Rig {
  const clock = new ManualClock(START);
  const store = new MemoryQuotaStore();
  const logger = pino({ level: 'silent' });
  const quota = new QuotaService({ store, logger });
  const budgets = new BudgetService({ store, logger, loadSpendNanoUsd: async () => 0n });
  const ledger = new UsageLedger({ db, logger, timers: { setTimeout: () => 0, clearTimeout: () => {} } });
  const upstream = new UpstreamClient({ baseUrl: mock.url, timeoutMs: 5_000, retries: 2, sleep: async (ms) => clock.advance(ms), random: () => 0.5 });
  upstreams.push(upstream);
  const records: UsageRecord[] = [];
  const overshoots: Array<[string, number]> = [];
  const allowance = new TextAllowance();
  const relay = new GeminiRelay({
    upstream,
    quota,
    budgets,
    ledger,
    clock,
    logger,
    onRecord: (r) => records.push(r),
    textAllowance: allowance,
    ...(opts.holds ? { holds: opts.holds } : {}),
    onOvershoot: (r, excess) => overshoots.push([r.id, excess]),
  });
  return { relay, clock, quota, budgets, allowance, records, overshoots };
}

const PROJECT: QuotaProject & { apiKey: string } = { id: 'default', apiKey: GOOGLE_KEY, tier: 'tier3' };
const caller = (tenant: Partial<Tenant> = {}, key?: KeySettings): Caller => ({
  tenant: { id: 'design', projectId: 'default', source: 'config', ...tenant },
  keyId: 'key_abc123',
  ...(key ? { key } : {}),
});
function call(over: Partial<CallRequest> = {}, body: GenerateContentRequest = PROMPT): CallRequest {
  return relayCall({ requestId: 'req_holds_1', caller: caller(), project: PROJECT, model: PRO }, over, body);
}

async function complete(started: StartedCall) {
  if (started.ok) await readAll(started.body);
  return started.outcome;
}

async function used(r: Rig, dimension: 'rpm' | 'ipm' | 'tpm'): Promise<number> {
  return (await r.quota.snapshot(PROJECT, [PRO], r.clock.nowMs())).find((x) => x.dimension === dimension)?.used ?? -1;
}

const AT = Date.parse(START);
const estimateOf = (body: GenerateContentRequest) => estimateRequest(PRO, body);

describe('what a call holds (#13.1)', () => {
  it.each<[string, GenerateContentRequest, number]>([
    // 1K Pro: 6 input tokens, 1,120 image tokens, the table's 4,096 tokens of text and thinking.
    ['a 1K Pro image: the image and the table allowance, not the 32,768-token output limit', PROMPT, 6 * 2_000 + 1_120 * 120_000 + 4_096 * 12_000],
    ['a 4K image holds 4K tokens', { ...PROMPT, generationConfig: { imageConfig: { imageSize: '4K' } } }, 6 * 2_000 + 2_000 * 120_000 + 4_096 * 12_000],
    ['candidateCount 3 holds three images', { ...PROMPT, generationConfig: { candidateCount: 3 } }, 6 * 2_000 + 3 * 1_120 * 120_000 + 4_096 * 12_000],
    ['a smaller maxOutputTokens caps the text allowance', { ...PROMPT, generationConfig: { maxOutputTokens: 100 } }, 6 * 2_000 + 1_120 * 120_000 + 100 * 12_000],
    ['a larger maxOutputTokens does not raise it', { ...PROMPT, generationConfig: { maxOutputTokens: 30_000 } }, 6 * 2_000 + 1_120 * 120_000 + 4_096 * 12_000],
  ])('%s', (_name, body, expected) => {
    const r = rig();
    expect(r.relay.holdNanoUsd({ model: PRO, estimate: estimateOf(body) }, AT)).toBe(expected);
  });

  it('holds the worst case under budget.holds: strict, as before #13', () => {
    const r = rig({ holds: 'strict' });
    const hold = r.relay.holdNanoUsd({ model: PRO, estimate: estimateOf(PROMPT) }, AT);
    expect(hold).toBe(worstCaseCostNanoUsd(PRO, { atMs: AT, estimatedInputTokens: 6, calls: 1 }));
    // $0.527628 against the sized $0.183564.
    expect(hold).toBe(527_628_000);
    expect(rig().relay.holdNanoUsd({ model: PRO, estimate: estimateOf(PROMPT) }, AT)).toBe(183_564_000);
  });

  it('learns the allowance from the calls it meters: the next hold is the image and a p99 of what calls wrote', async () => {
    const r = rig();
    for (let i = 0; i < 20; i++) await complete(await r.relay.start(call()));
    const wrote = r.records[0]!.outputTextTokens + r.records[0]!.thinkingTokens;
    expect(wrote).toBeGreaterThan(0);
    expect(r.allowance.view(PRO)).toMatchObject({ allowanceTokens: wrote, source: 'observed' });
    expect(r.relay.holdNanoUsd({ model: PRO, estimate: estimateOf(PROMPT) }, AT)).toBe(holdCostNanoUsd(PRO, { atMs: AT, estimatedInputTokens: 6, textTokens: wrote }));
  });

  it('settles to the real cost and tells the answer what is left, before and after', async () => {
    const r = rig();
    const budgeted = caller({ budget: { dailyUsd: 0.4 } });
    const started = await r.relay.start(call({ caller: budgeted }));
    const hold = r.relay.holdNanoUsd(call(), AT);
    expect(started.budgetRemainingNanoUsd).toBe(400_000_000n - BigInt(hold));
    const { record, budgetRemainingNanoUsd } = await complete(started);
    expect(budgetRemainingNanoUsd).toBe(400_000_000n - BigInt(record.costNanoUsd));
    expect(await r.budgets.remaining({ tenantId: 'design', tenantBudget: { dailyUsd: 0.4 }, keyId: 'key_abc123' }, r.clock.nowMs())).toBe(budgetRemainingNanoUsd);
    expect(record.flags).not.toContain('over_hold');
    expect(r.overshoots).toEqual([]);
  });

  it('flags a call that cost more than its hold, and says by how much', async () => {
    const r = rig();
    // maxOutputTokens 10: the mock writes its ~38 tokens of text and thinking anyway.
    const body: GenerateContentRequest = { ...PROMPT, generationConfig: { maxOutputTokens: 10 } };
    const hold = r.relay.holdNanoUsd(call({}, body), AT);
    const { record } = await complete(await r.relay.start(call({ caller: caller({ budget: { monthlyUsd: 10 } }) }, body)));
    expect(record.flags).toContain('over_hold');
    expect(r.overshoots).toEqual([[record.id, record.costNanoUsd - hold]]);
    // The excess is the text and thinking beyond the allowance, at the text rate.
    expect(record.costNanoUsd - hold).toBe((record.outputTextTokens + record.thinkingTokens - 10) * 12_000);
  });

  it('flags nothing without a budget: nothing was held', async () => {
    const r = rig();
    const { record } = await complete(await r.relay.start(call({}, { ...PROMPT, generationConfig: { maxOutputTokens: 1 } })));
    expect(record.flags).not.toContain('over_hold');
  });
});

describe("a key's own limits and budget (#13.3)", () => {
  it("refuses on the key's rpm, counting nothing, while its tenant has room", async () => {
    const r = rig();
    const keyed = caller({ limits: { rpm: 10 } }, { label: 'ci', limits: { rpm: 1 } });
    await complete(await r.relay.start(call({ caller: keyed })));
    const err = await r.relay.start(call({ caller: keyed })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).details.quota).toMatchObject({ scope: 'key', keyId: 'key_abc123', dimension: 'rpm', limit: 1 });
    expect(await used(r, 'rpm')).toBe(1);
  });

  it("refuses on the key's budget before the tenant's, giving back its hold", async () => {
    const r = rig();
    const keyed = caller({ budget: { dailyUsd: 10 } }, { label: null, budget: { dailyUsd: 0.2 } });
    await complete(await r.relay.start(call({ caller: keyed })));
    const err = (await r.relay.start(call({ caller: keyed })).catch((e: unknown) => e)) as GatewayError;
    expect(err.code).toBe('BUDGET_EXCEEDED');
    expect(err.details.budget).toMatchObject({ scope: 'key', keyId: 'key_abc123', period: 'daily' });
    expect(err.message).toMatch(/^daily budget \$0\.200000 of key key_abc123 \(tenant design\): spent \$0\.13\d{4}, held \$0\.000000 by calls in flight/);
  });
});

describe('images per minute count what came back (#13.7)', () => {
  it('gives back the image of a call that returned none', async () => {
    const r = rig();
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_SAFETY' });
    await complete(await r.relay.start(call()));
    expect(await used(r, 'ipm')).toBe(0);
    expect(await used(r, 'rpm')).toBe(1);
    await complete(await r.relay.start(call()));
    expect(await used(r, 'ipm')).toBe(1);
  });

  it('counts retried attempts as requests but not as images', async () => {
    const r = rig();
    mock.enqueue({ kind: 'unavailable' }, { kind: 'unavailable' });
    const { record } = await complete(await r.relay.start(call()));
    expect(record.imagesReturned).toBe(1);
    expect(await used(r, 'rpm')).toBe(3);
    expect(await used(r, 'ipm')).toBe(1);
  });

  it('counts no image for a call Google failed', async () => {
    const r = rig();
    mock.enqueue({ kind: 'status', status: 400, body: { error: { code: 400, message: 'bad', status: 'INVALID_ARGUMENT' } } });
    await complete(await r.relay.start(call()));
    expect(await used(r, 'ipm')).toBe(0);
  });
});
