/**
 * Redis unreachable (contract §11): local counters with `onFailure: local`, 503
 * STORE_UNAVAILABLE with `deny`, budgets never skipped, and shared counting again once
 * Redis is back. A real redis-server of this file's own is stopped and restarted.
 */
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { loadModelTable } from '../../src/models/model-table.js';
import { FailoverQuotaStore } from '../../src/quota/failover-store.js';
import { QuotaService, type QuotaProject } from '../../src/quota/quota-service.js';
import { RedisQuotaStore } from '../../src/quota/redis-store.js';
import { createQuotaStore } from '../../src/quota/store.js';
import { ManualClock } from '../../src/time/clock.js';
import { BudgetService } from '../../src/usage/budget.js';
import { freePort } from '../support/free-port.js';
import { startRedisServer, type RunningRedis } from '../support/redis-server.js';
import { testRedisClient } from './redis-namespace.js';

const model = loadModelTable().byId.get('gemini-3-pro-image')!;
const project: QuotaProject = { id: 'proj-f', tier: 'tier1', limits: { [model.id]: { rpm: 2, rpd: 1_000 } } };
const USD = 1_000_000_000;

function capturedLogger(): { logger: Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  return { logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) }), lines };
}

const WARN = 40;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function ownRedis(): Promise<{ redis: () => RunningRedis; restart: () => Promise<void> }> {
  let redis = await startRedisServer();
  cleanups.push(() => redis.stop());
  return {
    redis: () => redis,
    restart: async () => {
      redis = await startRedisServer([], { port: redis.port });
    },
  };
}

function failover(client: Redis | Cluster, onFailure: 'local' | 'deny', logger: Logger, keyPrefix = `f:${randomUUID()}:`): FailoverQuotaStore {
  const store = new FailoverQuotaStore({ primary: new RedisQuotaStore({ client, keyPrefix }), onFailure, logger });
  cleanups.push(() => store.close());
  return store;
}

async function stopAndWaitForClose(server: RunningRedis, client: Redis | Cluster): Promise<void> {
  const closed = once(client, 'close');
  await server.stop();
  await closed;
}

const admit = (q: QuotaService, clock: ManualClock, tenantId = 'tenant-f') =>
  q.admit({ project, tenantId, model, estimatedInputTokens: 10, images: 1, nowMs: clock.nowMs() });

describe('FailoverQuotaStore', () => {
  it('counts in this instance while Redis is stopped, warns once, and shares counters again after a restart', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const server = await ownRedis();
    const client = testRedisClient(server.redis().url);
    const { logger, lines } = capturedLogger();
    const keyPrefix = `f:${randomUUID()}:`;
    const store = failover(client, 'local', logger, keyPrefix);
    const q = new QuotaService({ store });
    await admit(q, clock);

    await stopAndWaitForClose(server.redis(), client);
    await expect(store.ping()).rejects.toThrow();
    // Local counters start empty and still enforce the limit: rpm 2.
    await admit(q, clock);
    await admit(q, clock);
    await expect(admit(q, clock)).rejects.toMatchObject({ code: 'QUOTA_EXHAUSTED', details: { quota: { dimension: 'rpm', used: 2 } } });
    expect(store.degraded).toBe(true);
    const warnings = lines.filter((l) => l.level === WARN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/unreachable/);

    const ready = once(client, 'ready');
    await server.restart();
    await ready;
    await store.ping();
    clock.advance(60_000);
    await admit(q, clock);
    expect(store.degraded).toBe(false);
    expect(lines.some((l) => /reachable again/.test(l.msg))).toBe(true);
    // Another instance sees the count: it went to Redis, not to this process's memory.
    const observer = testRedisClient(server.redis().url);
    const observerStore = new RedisQuotaStore({ client: observer, keyPrefix });
    cleanups.push(() => observerStore.close());
    const rows = await new QuotaService({ store: observerStore }).snapshot(project, [model], clock.nowMs());
    expect(rows.find((r) => r.dimension === 'rpm')).toMatchObject({ used: 1 });
  });

  it('refuses with STORE_UNAVAILABLE while Redis is stopped when onFailure is deny, budgets included', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const server = await ownRedis();
    const client = testRedisClient(server.redis().url);
    const { logger, lines } = capturedLogger();
    const store = failover(client, 'deny', logger);
    const q = new QuotaService({ store });
    const budgets = new BudgetService({ store, loadSpendNanoUsd: async () => 0n });
    await admit(q, clock);

    await stopAndWaitForClose(server.redis(), client);
    for (let i = 0; i < 3; i++) {
      await expect(admit(q, clock)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    }
    await expect(budgets.reserve({ tenantId: 't', keyId: 'k1', tenantBudget: { dailyUsd: 5 }, amountNanoUsd: USD, nowMs: clock.nowMs() })).rejects.toBeInstanceOf(GatewayError);
    expect(lines.filter((l) => l.level === WARN)).toHaveLength(1);

    const ready = once(client, 'ready');
    await server.restart();
    await ready;
    await expect(admit(q, clock)).resolves.toBeDefined();
  });

  it('never skips budgets with local counters: they are rebuilt from the ledger', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const server = await ownRedis();
    const client = testRedisClient(server.redis().url);
    const store = failover(client, 'local', capturedLogger().logger);
    const loads: Array<[string, number, number]> = [];
    const budgets = new BudgetService({
      store,
      loadSpendNanoUsd: async (tenantId, fromMs, toMs) => {
        loads.push([tenantId, fromMs, toMs]);
        return BigInt(24.5 * USD);
      },
    });
    await stopAndWaitForClose(server.redis(), client);

    const reserve = () => budgets.reserve({ tenantId: 'spender', keyId: 'k1', tenantBudget: { dailyUsd: 25 }, amountNanoUsd: 0.3 * USD, nowMs: clock.nowMs() });
    const r = await reserve();
    expect(r).toBeDefined();
    await expect(reserve()).rejects.toMatchObject({ code: 'BUDGET_EXCEEDED', details: { budget: { period: 'daily', spentNanoUsd: BigInt(24.5 * USD), heldNanoUsd: BigInt(0.3 * USD) } } });
    expect(loads).toHaveLength(1);
  });

  it('adds spend settled locally during a partition to the shared counter Redis kept', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const server = await ownRedis();
    const client = testRedisClient(server.redis().url) as Redis;
    const store = failover(client, 'local', capturedLogger().logger);
    // The ledger: every settled cost lands in it, as the meter's records do.
    let ledgerNanoUsd = 0n;
    const budgets = new BudgetService({ store, loadSpendNanoUsd: async () => ledgerNanoUsd });
    const spend = async (worstUsd: number, actualUsd: number) => {
      const r = (await budgets.reserve({ tenantId: 'p', keyId: 'k1', tenantBudget: { dailyUsd: 1 }, amountNanoUsd: worstUsd * USD, nowMs: clock.nowMs() }))!;
      await budgets.settle(r, actualUsd * USD);
      ledgerNanoUsd += BigInt(actualUsd * USD);
    };
    await spend(0.5, 0.3);

    // A partition: Redis keeps its data, this instance cannot reach it.
    const ended = once(client, 'end');
    client.disconnect();
    await ended;
    await spend(0.5, 0.2);
    expect(store.degraded).toBe(true);

    const ready = once(client, 'ready');
    await client.connect();
    await ready;
    // Redis had 0.30 spent; with the 0.20 of the partition it is 0.50, so 0.60 cannot fit.
    await expect(budgets.reserve({ tenantId: 'p', keyId: 'k1', tenantBudget: { dailyUsd: 1 }, amountNanoUsd: 0.6 * USD, nowMs: clock.nowMs() })).rejects.toMatchObject({
      code: 'BUDGET_EXCEEDED',
      details: { budget: { spentNanoUsd: BigInt(0.5 * USD), heldNanoUsd: 0n } },
    });
    expect(store.degraded).toBe(false);
  });
});

describe('createQuotaStore', () => {
  it('uses memory and warns that it is for one instance when no Redis URL is given', async () => {
    const { logger, lines } = capturedLogger();
    const store = await createQuotaStore({ onFailure: 'local', logger });
    await store.ping();
    expect(lines.filter((l) => l.level === WARN).map((l) => l.msg).join()).toMatch(/one gateway instance/);
    await store.close();
  });

  it('starts with Redis unreachable: counts locally at once with local, refuses with deny', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const deadUrl = `redis://127.0.0.1:${await freePort()}`;
    const local = await createQuotaStore({ redisUrl: deadUrl, onFailure: 'local', logger: capturedLogger().logger });
    cleanups.push(() => local.close());
    await expect(admit(new QuotaService({ store: local }), clock)).resolves.toBeDefined();
    await expect(local.ping()).rejects.toThrow();
    const deny = await createQuotaStore({ redisUrl: deadUrl, onFailure: 'deny', logger: capturedLogger().logger });
    cleanups.push(() => deny.close());
    await expect(admit(new QuotaService({ store: deny }), clock)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});
