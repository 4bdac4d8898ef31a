/**
 * Tenant budgets (contract §8, §9) on every store: worst-case reservations that concurrent
 * calls cannot overshoot, settlement to the actual cost, daily and monthly Pacific periods,
 * and counters rebuilt from the ledger when the store has none.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { GatewayError, type BudgetRefusal } from '../../src/errors/gateway-error.js';
import { MemoryQuotaStore } from '../../src/quota/memory-store.js';
import { RedisQuotaStore } from '../../src/quota/redis-store.js';
import type { QuotaStore } from '../../src/quota/store.js';
import { ManualClock } from '../../src/time/clock.js';
import { nextPacificMidnightMs, nextPacificMonthStartMs, pacificDayStartMs } from '../../src/time/pacific.js';
import { BudgetService, budgetRefusalMessage, formatWait, type BudgetReservation } from '../../src/usage/budget.js';
import { startRedisCluster } from '../quota/redis-cluster.js';
import { testRedisClient } from '../quota/redis-namespace.js';
import { serviceUnavailable } from '../support/required-services.js';

const USD = 1_000_000_000;
const nano = (usd: number) => Math.round(usd * USD);

/** The ledger as the meter fills it: settled costs with their time. */
class FakeLedger {
  readonly records: Array<{ tenantId: string; keyId: string; timeMs: number; costNanoUsd: number }> = [];
  readonly loads: Array<{ tenantId: string; fromMs: number; toMs: number; keyId?: string }> = [];
  add(tenantId: string, timeMs: number, costUsd: number, keyId = 'k1'): void {
    this.records.push({ tenantId, keyId, timeMs, costNanoUsd: nano(costUsd) });
  }
  loadSpendNanoUsd = async (tenantId: string, fromMs: number, toMs: number, keyId?: string): Promise<bigint> => {
    this.loads.push({ tenantId, fromMs, toMs, ...(keyId !== undefined ? { keyId } : {}) });
    // Answer on a later turn, as a database would: concurrent callers pile up meanwhile.
    await new Promise((r) => setImmediate(r));
    return this.records
      .filter((r) => r.tenantId === tenantId && (keyId === undefined || r.keyId === keyId) && r.timeMs >= fromMs && r.timeMs < toMs)
      .reduce((s, r) => s + BigInt(r.costNanoUsd), 0n);
  };
}

interface StoreFactory {
  name: string;
  /** A new connection to the same counters as every other open() of this test. */
  namespace(): { open(): QuotaStore; close(): Promise<void> };
}

const redisUrl = inject('redisUrl');
const cluster = await startRedisCluster();
if (typeof cluster === 'string') {
  serviceUnavailable('Redis Cluster', cluster, 'the budget tests on Redis Cluster');
} else {
  afterAll(() => cluster.stop());
}

function redisFactory(name: string, url: string): StoreFactory {
  return {
    name,
    namespace() {
      const keyPrefix = `budget:${randomUUID()}:`;
      const stores: QuotaStore[] = [];
      return {
        open() {
          const s = new RedisQuotaStore({ client: testRedisClient(url), keyPrefix });
          stores.push(s);
          return s;
        },
        close: async () => void (await Promise.all(stores.map((s) => s.close()))),
      };
    },
  };
}

const factories: StoreFactory[] = [
  {
    name: 'memory',
    namespace() {
      const store = new MemoryQuotaStore();
      return { open: () => store, close: () => store.close() };
    },
  },
  redisFactory('Redis', redisUrl),
  ...(typeof cluster === 'string' ? [] : [redisFactory('Redis Cluster', cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','))]),
];

async function refusalOf(p: Promise<unknown>): Promise<BudgetRefusal> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GatewayError && e.code === 'BUDGET_EXCEEDED' && e.details.budget) return e.details.budget;
    throw e;
  }
  throw new Error('expected BUDGET_EXCEEDED, but the reservation was made');
}

describe.each(factories)('BudgetService on $name', (factory) => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((n) => n.close()));
  });

  function setup(instances = 1, holdMs?: number) {
    const ns = factory.namespace();
    open.push(ns);
    const ledger = new FakeLedger();
    const services = Array.from(
      { length: instances },
      () => new BudgetService({ store: ns.open(), loadSpendNanoUsd: ledger.loadSpendNanoUsd, ...(holdMs !== undefined ? { holdMs } : {}) }),
    );
    return { ledger, services, budgets: services[0]! };
  }

  it('lets at most 5 of 50 concurrent calls reserve a budget that fits 5', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const { services } = setup(3);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        services[i % services.length]!.reserve({ tenantId: 'team', keyId: 'k1', tenantBudget: { dailyUsd: 1 }, amountNanoUsd: nano(0.2), nowMs: clock.nowMs() }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'BUDGET_EXCEEDED', details: { budget: { period: 'daily', scope: 'tenant', limitNanoUsd: BigInt(USD) } } });
    }
  });

  it('replaces a reservation by the actual cost when it settles', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const { budgets } = setup();
    const reserve = (usd: number) => budgets.reserve({ tenantId: 'team', keyId: 'k1', tenantBudget: { dailyUsd: 1 }, amountNanoUsd: nano(usd), nowMs: clock.nowMs() });
    const held: BudgetReservation[] = [];
    for (let i = 0; i < 5; i++) held.push((await reserve(0.2))!);
    expect(await refusalOf(reserve(0.01))).toMatchObject({ spentNanoUsd: 0n, heldNanoUsd: BigInt(USD), requestedNanoUsd: BigInt(nano(0.01)) });
    await budgets.settle(held[0]!, nano(0.05));
    // 0.05 spent + 0.80 still held: 0.15 fits, not a cent more.
    expect(await refusalOf(reserve(0.16))).toMatchObject({ spentNanoUsd: BigInt(nano(0.05)), heldNanoUsd: BigInt(nano(0.8)) });
    await reserve(0.15);
    await budgets.settle(held[1]!, 0);
    await expect(reserve(0.2)).resolves.toBeDefined();
    expect(await refusalOf(reserve(0.01))).toMatchObject({ spentNanoUsd: BigInt(nano(0.05)), heldNanoUsd: BigInt(nano(0.95)) });
  });

  it('refuses on the daily budget and on the monthly one, each resetting at its Pacific boundary', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const { budgets, ledger } = setup();
    const budget = { dailyUsd: 10, monthlyUsd: 12 };
    const spend = async (usd: number) => {
      const r = (await budgets.reserve({ tenantId: 'team', keyId: 'k1', tenantBudget: budget, amountNanoUsd: nano(usd), nowMs: clock.nowMs() }))!;
      await budgets.settle(r, nano(usd));
      ledger.add('team', clock.nowMs(), usd);
    };
    const reserve = (usd: number) => budgets.reserve({ tenantId: 'team', keyId: 'k1', tenantBudget: budget, amountNanoUsd: nano(usd), nowMs: clock.nowMs() });
    await spend(9);
    expect(await refusalOf(reserve(2))).toEqual({
      period: 'daily',
      scope: 'tenant',
      tenantId: 'team',
      limitNanoUsd: BigInt(nano(10)),
      spentNanoUsd: BigInt(nano(9)),
      heldNanoUsd: 0n,
      requestedNanoUsd: BigInt(nano(2)),
      resetAtMs: nextPacificMidnightMs(clock.nowMs()),
    });
    // Both refuse: the monthly budget resets later, so it is the one to report.
    expect(await refusalOf(reserve(4))).toMatchObject({ period: 'monthly', resetAtMs: nextPacificMonthStartMs(clock.nowMs()) });

    clock.set(nextPacificMidnightMs(clock.nowMs()));
    expect(await refusalOf(reserve(4))).toMatchObject({ period: 'monthly', limitNanoUsd: BigInt(nano(12)), spentNanoUsd: BigInt(nano(9)) });
    await spend(3);
    expect(await refusalOf(reserve(0.000001))).toMatchObject({ period: 'monthly', spentNanoUsd: BigInt(nano(12)) });

    clock.set(nextPacificMonthStartMs(clock.nowMs()));
    await expect(reserve(10)).resolves.toBeDefined();
  });

  it('rebuilds a missing counter from the ledger once, however many calls arrive together', async () => {
    const clock = new ManualClock('2026-03-08T20:00:00Z');
    const { budgets, ledger } = setup();
    ledger.add('team', pacificDayStartMs('2026-03-08') - 1, 50); // the day before: not today's spend
    ledger.add('team', pacificDayStartMs('2026-03-08'), 0.6);
    ledger.add('team', clock.nowMs() - 60_000, 0.3);
    ledger.add('other', clock.nowMs() - 60_000, 0.9);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => budgets.reserve({ tenantId: 'team', keyId: 'k1', tenantBudget: { dailyUsd: 1 }, amountNanoUsd: nano(0.05), nowMs: clock.nowMs() })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    // DST starts on 2026-03-08: that Pacific day is 23 hours long.
    expect(ledger.loads).toEqual([{ tenantId: 'team', fromMs: pacificDayStartMs('2026-03-08'), toMs: pacificDayStartMs('2026-03-09') }]);
    expect(pacificDayStartMs('2026-03-09') - pacificDayStartMs('2026-03-08')).toBe(23 * 3_600_000);
  });

  it('rebuilds each period from its own span of the ledger', async () => {
    const clock = new ManualClock('2026-11-20T20:00:00Z');
    const { budgets, ledger } = setup();
    ledger.add('team', Date.parse('2026-11-02T12:00:00Z'), 7);
    ledger.add('team', clock.nowMs() - 1_000, 2);
    expect(await refusalOf(budgets.reserve({ tenantId: 'team', keyId: 'k1', tenantBudget: { dailyUsd: 5, monthlyUsd: 10 }, amountNanoUsd: nano(1.5), nowMs: clock.nowMs() }))).toMatchObject({
      period: 'monthly',
      spentNanoUsd: BigInt(nano(9)),
    });
    expect(ledger.loads.map((l) => [l.fromMs, l.toMs]).sort()).toEqual(
      [
        [pacificDayStartMs('2026-11-20'), pacificDayStartMs('2026-11-21')],
        [pacificDayStartMs('2026-11-01'), pacificDayStartMs('2026-12-01')],
      ].sort(),
    );
  });

  it('releases a reservation that is never settled once its hold lapses', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const { budgets } = setup(1, 600_000);
    const reserve = () => budgets.reserve({ tenantId: 'team', keyId: 'k1', tenantBudget: { monthlyUsd: 1 }, amountNanoUsd: nano(0.5), nowMs: clock.nowMs() });
    await reserve();
    await reserve();
    await refusalOf(reserve());
    clock.advance(599_999);
    await refusalOf(reserve());
    clock.advance(1);
    await expect(reserve()).resolves.toBeDefined();
  });

  it('refuses with STORE_UNAVAILABLE rather than skip the budget when the ledger cannot be read', async () => {
    const ns = factory.namespace();
    open.push(ns);
    let ledgerUp = false;
    const budgets = new BudgetService({
      store: ns.open(),
      loadSpendNanoUsd: async () => {
        if (!ledgerUp) throw new Error('connection refused');
        return 0n;
      },
    });
    const reserve = () => budgets.reserve({ tenantId: 'team', keyId: 'k1', tenantBudget: { dailyUsd: 1 }, amountNanoUsd: nano(0.1), nowMs: Date.parse('2026-06-15T18:00:00Z') });
    await expect(reserve()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    ledgerUp = true;
    await expect(reserve()).resolves.toBeDefined();
  });

  it('has nothing to reserve for a tenant without a budget', async () => {
    const { budgets, ledger } = setup();
    await expect(budgets.reserve({ tenantId: 'free', keyId: 'k1', tenantBudget: {}, amountNanoUsd: nano(100), nowMs: Date.parse('2026-06-15T18:00:00Z') })).resolves.toBeUndefined();
    expect(ledger.loads).toEqual([]);
  });

  describe("a key's own budget (#13.3)", () => {
    it('holds key and tenant budgets together: 40 concurrent calls from two keys overspend neither', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const { services } = setup(2);
      // The tenant fits 5 holds of $0.20; key k1 fits 2 of them on its own.
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          services[i % 2]!.reserve({
            tenantId: 'team',
            tenantBudget: { dailyUsd: 1 },
            keyId: i % 4 < 2 ? 'k1' : 'k2',
            keyBudget: i % 4 < 2 ? { dailyUsd: 0.4 } : undefined,
            amountNanoUsd: nano(0.2),
            nowMs: clock.nowMs(),
          }),
        ),
      );
      const held = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i % 4 < 2 ? 'k1' : 'k2'] : []));
      // Which calls win depends on arrival; how many never does.
      expect(held.filter((k) => k === 'k1').length).toBeLessThanOrEqual(2);
      expect(held).toHaveLength(5);
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') return;
        const b = (r.reason as GatewayError).details.budget!;
        // Only k1 has a budget of its own to be refused on.
        expect(b.scope === 'tenant' || (b.scope === 'key' && b.keyId === 'k1' && i % 4 < 2)).toBe(true);
      });
    });

    it('refuses on the key budget, naming the key, while the tenant budget has room, and counts nothing', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const { budgets } = setup();
      const reserve = (keyId: string, usd: number) =>
        budgets.reserve({ tenantId: 'team', tenantBudget: { monthlyUsd: 100 }, keyId, keyBudget: keyId === 'k1' ? { dailyUsd: 0.5 } : undefined, amountNanoUsd: nano(usd), nowMs: clock.nowMs() });
      const r = (await reserve('k1', 0.3))!;
      await budgets.settle(r, nano(0.25));
      const refusal = await refusalOf(reserve('k1', 0.3));
      expect(refusal).toEqual({
        period: 'daily',
        scope: 'key',
        tenantId: 'team',
        keyId: 'k1',
        limitNanoUsd: BigInt(nano(0.5)),
        spentNanoUsd: BigInt(nano(0.25)),
        heldNanoUsd: 0n,
        requestedNanoUsd: BigInt(nano(0.3)),
        resetAtMs: nextPacificMidnightMs(clock.nowMs()),
      });
      // The refused call held nothing on the tenant's budget; another key still spends it.
      await expect(reserve('k2', 99.75)).resolves.toBeDefined();
      expect(await refusalOf(reserve('k2', 0.000001))).toMatchObject({ scope: 'tenant', period: 'monthly', spentNanoUsd: BigInt(nano(0.25)), heldNanoUsd: BigInt(nano(99.75)) });
    });

    it("rebuilds a key's counter from that key's records only", async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const { budgets, ledger } = setup();
      ledger.add('team', clock.nowMs() - 60_000, 0.3, 'k1');
      ledger.add('team', clock.nowMs() - 60_000, 0.6, 'k2');
      const reserve = (usd: number) => budgets.reserve({ tenantId: 'team', keyId: 'k1', keyBudget: { dailyUsd: 0.5 }, amountNanoUsd: nano(usd), nowMs: clock.nowMs() });
      expect(await refusalOf(reserve(0.21))).toMatchObject({ scope: 'key', spentNanoUsd: BigInt(nano(0.3)) });
      await expect(reserve(0.2)).resolves.toBeDefined();
      expect(ledger.loads).toEqual([{ tenantId: 'team', keyId: 'k1', fromMs: pacificDayStartMs('2026-06-15'), toMs: pacificDayStartMs('2026-06-16') }]);
    });
  });

  describe('what is left (#13.2)', () => {
    it('tells the caller the least any budget has left once its hold is taken, and reads it again later', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const { budgets } = setup();
      const owners = { tenantId: 'team', tenantBudget: { dailyUsd: 1, monthlyUsd: 10 }, keyId: 'k1', keyBudget: { dailyUsd: 0.7 } };
      const r = (await budgets.reserve({ ...owners, amountNanoUsd: nano(0.2), nowMs: clock.nowMs() }))!;
      expect(r.remainingNanoUsd).toBe(BigInt(nano(0.5)));
      expect(await budgets.remaining(owners, clock.nowMs())).toBe(BigInt(nano(0.5)));
      await budgets.settle(r, nano(0.15));
      expect(await budgets.remaining(owners, clock.nowMs())).toBe(BigInt(nano(0.55)));
      expect(await budgets.remaining({ tenantId: 'team', keyId: 'k1' }, clock.nowMs())).toBeUndefined();
    });

    it('reads spent, held, remaining and reset of the day and the month, for the tenant and the key', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const { budgets, ledger } = setup();
      ledger.add('team', Date.parse('2026-06-02T18:00:00Z'), 2, 'k2');
      const owners = { tenantId: 'team', tenantBudget: { dailyUsd: 1 }, keyId: 'k1', keyBudget: { monthlyUsd: 5 } };
      const done = (await budgets.reserve({ ...owners, amountNanoUsd: nano(0.2), nowMs: clock.nowMs() }))!;
      await budgets.settle(done, nano(0.1344));
      ledger.add('team', clock.nowMs(), 0.1344, 'k1');
      await budgets.reserve({ ...owners, amountNanoUsd: nano(0.2), nowMs: clock.nowMs() });
      const day = { key: '2026-06-15', startsAtMs: pacificDayStartMs('2026-06-15'), resetAtMs: pacificDayStartMs('2026-06-16') };
      const month = { key: '2026-06', startsAtMs: pacificDayStartMs('2026-06-01'), resetAtMs: pacificDayStartMs('2026-07-01') };
      expect(await budgets.read(owners, clock.nowMs())).toEqual({
        tenant: {
          id: 'team',
          daily: { ...day, limitNanoUsd: BigInt(nano(1)), spentNanoUsd: BigInt(nano(0.1344)), heldNanoUsd: BigInt(nano(0.2)), remainingNanoUsd: BigInt(nano(0.6656)) },
          // No monthly budget: the month's spend comes from the ledger, and nothing is held for it.
          monthly: { ...month, limitNanoUsd: undefined, spentNanoUsd: BigInt(nano(2.1344)), heldNanoUsd: 0n, remainingNanoUsd: undefined },
        },
        key: {
          id: 'k1',
          daily: { ...day, limitNanoUsd: undefined, spentNanoUsd: BigInt(nano(0.1344)), heldNanoUsd: 0n, remainingNanoUsd: undefined },
          monthly: { ...month, limitNanoUsd: BigInt(nano(5)), spentNanoUsd: BigInt(nano(0.1344)), heldNanoUsd: BigInt(nano(0.2)), remainingNanoUsd: BigInt(nano(4.6656)) },
        },
      });
    });

    it('settles many calls of two instances at once to the exact total, in the key and tenant counters alike', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const { services } = setup(2);
      const owners = (i: number) => ({
        tenantId: 'team',
        tenantBudget: { dailyUsd: 10, monthlyUsd: 100 },
        keyId: i % 2 ? 'k1' : 'k2',
        ...(i % 2 ? { keyBudget: { dailyUsd: 5 } } : {}),
      });
      const held = await Promise.all(Array.from({ length: 12 }, (_, i) => services[i % 2]!.reserve({ ...owners(i), amountNanoUsd: nano(0.3), nowMs: clock.nowMs() })));
      // Settled together (one turn: one script call per tenant on Redis), one of them twice.
      const costs = Array.from({ length: 12 }, (_, i) => nano(0.01 * (i + 1)));
      await Promise.all([...held.map((r, i) => services[i % 2]!.settle(r!, costs[i]!)), services[1]!.settle(held[3]!, 0)]);
      const total = BigInt(costs.reduce((s, c) => s + c, 0));
      const k1 = BigInt(costs.filter((_, i) => i % 2).reduce((s, c) => s + c, 0));
      const view = await services[0]!.read(owners(1), clock.nowMs());
      expect(view.tenant.daily).toMatchObject({ spentNanoUsd: total, heldNanoUsd: 0n });
      expect(view.tenant.monthly).toMatchObject({ spentNanoUsd: total, heldNanoUsd: 0n });
      expect(view.key.daily).toMatchObject({ spentNanoUsd: k1, heldNanoUsd: 0n });
    });

    it('rebuilds a counter the store lost before reading it', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const { budgets, ledger } = setup();
      ledger.add('team', clock.nowMs() - 1_000, 0.25);
      const view = await budgets.read({ tenantId: 'team', tenantBudget: { dailyUsd: 1 }, keyId: 'k1' }, clock.nowMs());
      expect(view.tenant.daily).toMatchObject({ spentNanoUsd: BigInt(nano(0.25)), remainingNanoUsd: BigInt(nano(0.75)) });
    });
  });
});

describe('budgetRefusalMessage', () => {
  const base = { scope: 'tenant' as const, tenantId: 'design', spentNanoUsd: 268_880_000n, heldNanoUsd: 0n, requestedNanoUsd: 134_916_000n };
  it.each<[string, Parameters<typeof budgetRefusalMessage>[0], number, string]>([
    [
      "the issue's example",
      { ...base, period: 'daily', limitNanoUsd: 400_000_000n, resetAtMs: Date.parse('2026-11-28T08:00:00Z') },
      Date.parse('2026-11-28T02:48:00Z'),
      'daily budget $0.400000 of tenant design: spent $0.268880, held $0.000000 by calls in flight, this call needs about $0.134916; resets at 00:00 Pacific (in 5 h 12 min)',
    ],
    [
      "a key's monthly budget, days away",
      { ...base, scope: 'key', keyId: 'key_1', period: 'monthly', limitNanoUsd: 5_000_000_000n, heldNanoUsd: 1n, resetAtMs: Date.parse('2026-12-01T08:00:00Z') },
      Date.parse('2026-11-27T18:00:00Z'),
      'monthly budget $5.000000 of key key_1 (tenant design): spent $0.268880, held $0.000000 by calls in flight, this call needs about $0.134916; resets at 00:00 Pacific on 2026-12-01 (in 3 d 14 h)',
    ],
    ['seconds before midnight', { ...base, period: 'daily', limitNanoUsd: 1n, resetAtMs: 10_000 }, 9_000, expect.stringContaining('(in 1 min)') as unknown as string],
  ])('says %s', (_name, refusal, nowMs, message) => {
    expect(budgetRefusalMessage(refusal, nowMs)).toEqual(message);
  });

  it.each<[number, string]>([
    [60_000, '1 min'],
    [3_600_000, '1 h'],
    [18_720_000, '5 h 12 min'],
    [86_400_000, '1 d'],
    [90_000_000, '1 d 1 h'],
  ])('writes a wait of %s ms as %s', (ms, text) => {
    expect(formatWait(ms)).toBe(text);
  });
});

describe('BudgetService on Redis that lost its data', () => {
  it('rebuilds from the ledger after the counters vanish, with two instances racing to do it', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const keyPrefix = `budget:${randomUUID()}:`;
    const ledger = new FakeLedger();
    const a = new RedisQuotaStore({ client: testRedisClient(redisUrl), keyPrefix });
    const b = new RedisQuotaStore({ client: testRedisClient(redisUrl), keyPrefix });
    const admin = new Redis(redisUrl);
    try {
      const services = [a, b].map((store) => new BudgetService({ store, loadSpendNanoUsd: ledger.loadSpendNanoUsd }));
      const budget = { dailyUsd: 1 };
      const r = (await services[0]!.reserve({ tenantId: 'team', keyId: 'k1', tenantBudget: budget, amountNanoUsd: nano(0.5), nowMs: clock.nowMs() }))!;
      await services[0]!.settle(r, nano(0.4));
      ledger.add('team', clock.nowMs(), 0.4);

      // What a Redis restart without persistence leaves: none of the counters.
      const keys = await admin.keys(`${keyPrefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      await admin.del(...keys);

      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => services[i % 2]!.reserve({ tenantId: 'team', keyId: 'k1', tenantBudget: budget, amountNanoUsd: nano(0.1), nowMs: clock.nowMs() })),
      );
      expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(6);
      // Once per instance at most; the store's set-if-absent makes the second a no-op.
      expect(ledger.loads.length).toBeGreaterThanOrEqual(2);
      expect(ledger.loads.length).toBeLessThanOrEqual(3);
    } finally {
      await Promise.all([a.close(), b.close(), admin.quit()]);
    }
  });
});
