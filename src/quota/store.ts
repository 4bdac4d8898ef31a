/**
 * The store of hot, shared counters (contract §9): quota windows, cool-downs and budget spend.
 * One interface, a memory and a Redis implementation, and a failover wrapper (STYLE.md,
 * borrowed from fastify-rate-limit). Every call carries `nowMs`: the store never reads a clock,
 * so one test clock drives every implementation (STYLE.md, DI).
 */
import type { Logger } from 'pino';
import { Cluster, Redis } from 'ioredis';
import type { Limits } from './limits.js';
import { MemoryQuotaStore } from './memory-store.js';
import { RedisQuotaStore } from './redis-store.js';
import { FailoverQuotaStore } from './failover-store.js';

export type QuotaScope = 'project' | 'tenant';
export type QuotaDimension = 'rpm' | 'tpm' | 'rpd' | 'ipm';

export interface AdmitCommand {
  projectId: string;
  model: string;
  tenantId: string;
  projectLimits: Limits;
  tenantLimits: Limits;
  /** Unique across instances: names this admission's entry in the minute logs. No '|'. */
  entryId: string;
  tokens: number;
  images: number;
  nowMs: number;
  /** Pacific day (YYYY-MM-DD) of nowMs, and the instant it ends (the `rpd` reset). */
  day: string;
  dayEndsAtMs: number;
}

export interface RequestCounts {
  rpm: number;
  rpd: number;
}

export type AdmitOutcome =
  | { admitted: true; usedAfter: { project: RequestCounts; tenant: RequestCounts } }
  | {
      admitted: false;
      scope: QuotaScope;
      dimension: QuotaDimension | 'cooldown';
      limit: number;
      used: number;
      /** When enough capacity frees for this request: the latest over every refusing dimension. */
      retryAfterMs: number;
    };

export interface CorrectCommand {
  projectId: string;
  model: string;
  tenantId: string;
  entryId: string;
  admittedAtMs: number;
  images: number;
  estimatedTokens: number;
  actualTokens: number;
}

export interface WindowUsage {
  rpm: number;
  tpm: number;
  ipm: number;
  rpd: number;
  /** Newest entry still inside the minute window; undefined when the window is empty. */
  newestAtMs: number | undefined;
}

export interface QuotaCounters {
  /** Checks every dimension of project+model and tenant and counts all of them, or none. */
  admit(cmd: AdmitCommand): Promise<AdmitOutcome>;
  /** Replaces the admission's estimated tokens by the actual count, if it is still in the window. */
  correctTokens(cmd: CorrectCommand): Promise<void>;
  /** Cool-down until `untilMs` (keeps a later one already set). */
  startCooldown(projectId: string, model: string, untilMs: number, nowMs: number): Promise<void>;
  projectUsage(projectId: string, model: string, nowMs: number, day: string): Promise<WindowUsage>;
}

export type BudgetPeriod = 'daily' | 'monthly';

export interface BudgetPeriodRef {
  period: BudgetPeriod;
  /** The Pacific day (YYYY-MM-DD) or month (YYYY-MM) the counter belongs to. */
  key: string;
  endsAtMs: number;
}

export interface BudgetReserveCommand {
  tenantId: string;
  reservationId: string;
  amountNanoUsd: bigint;
  nowMs: number;
  /** A reservation never settled (instance killed) stops holding budget at this instant. */
  holdUntilMs: number;
  periods: ReadonlyArray<BudgetPeriodRef & { limitNanoUsd: bigint }>;
}

export type BudgetReserveOutcome =
  | { status: 'reserved' }
  /** Counters absent from the store (e.g. Redis restarted): seed them from the ledger first. */
  | { status: 'missing'; periods: BudgetPeriod[] }
  | { status: 'refused'; period: BudgetPeriod; limitNanoUsd: bigint; spentNanoUsd: bigint; reservedNanoUsd: bigint };

export interface BudgetSeedCommand {
  tenantId: string;
  period: BudgetPeriodRef;
  spentNanoUsd: bigint;
  nowMs: number;
}

export interface BudgetSettleCommand {
  tenantId: string;
  reservationId: string;
  amountNanoUsd: bigint;
  actualNanoUsd: bigint;
  periods: readonly BudgetPeriodRef[];
}

export interface BudgetCounters {
  /** Reserves `amount` in every period if spent+reserved+amount stays within each limit; else nothing. */
  budgetReserve(cmd: BudgetReserveCommand): Promise<BudgetReserveOutcome>;
  /** Sets the spent counter only if it is absent (a racing seeder may have won). */
  budgetSeed(cmd: BudgetSeedCommand): Promise<void>;
  /** Drops the reservation and adds the actual cost (to counters that still exist). */
  budgetSettle(cmd: BudgetSettleCommand): Promise<void>;
}

export interface QuotaStore extends QuotaCounters, BudgetCounters {
  /** Resolves when the store answers (GET /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface CreateQuotaStoreOptions {
  /** redis://, rediss://, or a comma-separated host:port list (Redis Cluster). Unset: in-memory. */
  redisUrl?: string;
  onFailure: 'local' | 'deny';
  logger: Logger;
  keyPrefix?: string;
  /** A Redis command that takes longer fails (and fails over): a hung Redis must not hang requests. */
  commandTimeoutMs?: number;
}

/**
 * A client for REDIS_URL (redis://, rediss://, or host:port,host:port for Cluster) that fails
 * fast when Redis is gone: no offline queue, no per-command retries, a short command timeout,
 * so a dead Redis fails over at once instead of hanging requests. Reconnects by itself.
 */
export function connectRedis(redisUrl: string, commandTimeoutMs = 500): Redis | Cluster {
  const failFast = { maxRetriesPerRequest: 0, commandTimeout: commandTimeoutMs, connectTimeout: 2_000 };
  const retryStrategy = (times: number) => Math.min(100 * times, 2_000);
  const url = redisUrl.trim();
  const client = /^rediss?:\/\//.test(url)
    ? new Redis(url, { ...failFast, enableOfflineQueue: false, retryStrategy })
    : new Cluster(parseClusterNodes(url), { enableOfflineQueue: false, clusterRetryStrategy: retryStrategy, redisOptions: failFast });
  // Connection errors surface through failing commands (and the failover's one warning);
  // without a listener ioredis would report every reconnect attempt as an unhandled error.
  client.on('error', () => {});
  return client;
}

export function createQuotaStore(opts: CreateQuotaStoreOptions): QuotaStore {
  if (opts.redisUrl === undefined || opts.redisUrl.trim() === '') {
    opts.logger.warn('no REDIS_URL: quota and budget counters are in memory, correct for one gateway instance only');
    return new MemoryQuotaStore();
  }
  const primary = new RedisQuotaStore({
    client: connectRedis(opts.redisUrl, opts.commandTimeoutMs),
    ...(opts.keyPrefix !== undefined ? { keyPrefix: opts.keyPrefix } : {}),
  });
  return new FailoverQuotaStore({ primary, onFailure: opts.onFailure, logger: opts.logger });
}

function parseClusterNodes(list: string): Array<{ host: string; port: number }> {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((hp) => {
      const i = hp.lastIndexOf(':');
      const host = i > 0 ? hp.slice(0, i) : hp;
      const port = i > 0 ? Number(hp.slice(i + 1)) : 6379;
      if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`REDIS_URL: bad Redis Cluster node "${hp}" (want host:port)`);
      return { host, port };
    });
}
