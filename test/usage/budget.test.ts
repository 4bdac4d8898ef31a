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
import { BudgetService, type BudgetReservation } from '../../src/usage/budget.js';
import { startRedisCluster } from '../quota/redis-cluster.js';
import { testRedisClient } from '../quota/redis-namespace.js';
import { serviceUnavailable } from '../support/required-services.js';

const USD = 1_000_000_000;
const nano = (usd: number) => Math.round(usd * USD);

/** The ledger as the meter fills it: settled costs with their time. */
class FakeLedger {
  readonly records: Array<{ tenantId: string; timeMs: number; costNanoUsd: number }> = [];
  readonly loads: Array<{ tenantId: string; fromMs: number; toMs: number }> = [];
  add(tenantId: string, timeMs: number, costUsd: number): void {
    this.records.push({ tenantId, timeMs, costNanoUsd: nano(costUsd) });
  }
  loadSpendNanoUsd = async (tenantId: string, fromMs: number, toMs: number): Promise<bigint> => {
    this.loads.push({ tenantId, fromMs, toMs });
    // Answer on a later turn, as a database would: concurrent callers pile up meanwhile.
    await new Promise((r) => setImmediate(r));
    return this.records
      .filter((r) => r.tenantId === tenantId && r.timeMs >= fromMs && r.timeMs < toMs)
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
        services[i % services.length]!.reserve({ tenantId: 'team', budget: { dailyUsd: 1 }, worstCaseNanoUsd: nano(0.2), nowMs: clock.nowMs() }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'BUDGET_EXCEEDED', details: { budget: { period: 'daily', limitNanoUsd: USD } } });
    }
  });

  it('replaces a reservation by the actual cost when it settles', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const { budgets } = setup();
    const reserve = (usd: number) => budgets.reserve({ tenantId: 'team', budget: { dailyUsd: 1 }, worstCaseNanoUsd: nano(usd), nowMs: clock.nowMs() });
    const held: BudgetReservation[] = [];
    for (let i = 0; i < 5; i++) held.push((await reserve(0.2))!);
    expect(await refusalOf(reserve(0.01))).toMatchObject({ spentNanoUsd: USD, requestedNanoUsd: nano(0.01) });
    await budgets.settle(held[0]!, nano(0.05));
    // 0.05 spent + 0.80 still held: 0.15 fits, not a cent more.
    expect(await refusalOf(reserve(0.16))).toMatchObject({ spentNanoUsd: nano(0.85) });
    await reserve(0.15);
    await budgets.settle(held[1]!, 0);
    await expect(reserve(0.2)).resolves.toBeDefined();
    expect(await refusalOf(reserve(0.01))).toMatchObject({ spentNanoUsd: USD });
  });

  it('refuses on the daily budget and on the monthly one, each resetting at its Pacific boundary', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const { budgets, ledger } = setup();
    const budget = { dailyUsd: 10, monthlyUsd: 12 };
    const spend = async (usd: number) => {
      const r = (await budgets.reserve({ tenantId: 'team', budget, worstCaseNanoUsd: nano(usd), nowMs: clock.nowMs() }))!;
      await budgets.settle(r, nano(usd));
      ledger.add('team', clock.nowMs(), usd);
    };
    const reserve = (usd: number) => budgets.reserve({ tenantId: 'team', budget, worstCaseNanoUsd: nano(usd), nowMs: clock.nowMs() });
    await spend(9);
    expect(await refusalOf(reserve(2))).toEqual({
      period: 'daily',
      limitNanoUsd: nano(10),
      spentNanoUsd: nano(9),
      requestedNanoUsd: nano(2),
      tenantId: 'team',
      resetAtMs: nextPacificMidnightMs(clock.nowMs()),
    });
    // Both refuse: the monthly budget resets later, so it is the one to report.
    expect(await refusalOf(reserve(4))).toMatchObject({ period: 'monthly', resetAtMs: nextPacificMonthStartMs(clock.nowMs()) });

    clock.set(nextPacificMidnightMs(clock.nowMs()));
    expect(await refusalOf(reserve(4))).toMatchObject({ period: 'monthly', limitNanoUsd: nano(12), spentNanoUsd: nano(9) });
    await spend(3);
    expect(await refusalOf(reserve(0.000001))).toMatchObject({ period: 'monthly', spentNanoUsd: nano(12) });

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
      Array.from({ length: 20 }, () => budgets.reserve({ tenantId: 'team', budget: { dailyUsd: 1 }, worstCaseNanoUsd: nano(0.05), nowMs: clock.nowMs() })),
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
    expect(await refusalOf(budgets.reserve({ tenantId: 'team', budget: { dailyUsd: 5, monthlyUsd: 10 }, worstCaseNanoUsd: nano(1.5), nowMs: clock.nowMs() }))).toMatchObject({
      period: 'monthly',
      spentNanoUsd: nano(9),
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
    const reserve = () => budgets.reserve({ tenantId: 'team', budget: { monthlyUsd: 1 }, worstCaseNanoUsd: nano(0.5), nowMs: clock.nowMs() });
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
    const reserve = () => budgets.reserve({ tenantId: 'team', budget: { dailyUsd: 1 }, worstCaseNanoUsd: nano(0.1), nowMs: Date.parse('2026-06-15T18:00:00Z') });
    await expect(reserve()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    ledgerUp = true;
    await expect(reserve()).resolves.toBeDefined();
  });

  it('has nothing to reserve for a tenant without a budget', async () => {
    const { budgets, ledger } = setup();
    await expect(budgets.reserve({ tenantId: 'free', budget: {}, worstCaseNanoUsd: nano(100), nowMs: Date.parse('2026-06-15T18:00:00Z') })).resolves.toBeUndefined();
    expect(ledger.loads).toEqual([]);
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
      const r = (await services[0]!.reserve({ tenantId: 'team', budget, worstCaseNanoUsd: nano(0.5), nowMs: clock.nowMs() }))!;
      await services[0]!.settle(r, nano(0.4));
      ledger.add('team', clock.nowMs(), 0.4);

      // What a Redis restart without persistence leaves: none of the counters.
      const keys = await admin.keys(`${keyPrefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      await admin.del(...keys);

      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => services[i % 2]!.reserve({ tenantId: 'team', budget, worstCaseNanoUsd: nano(0.1), nowMs: clock.nowMs() })),
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
