/**
 * The store of hot, shared counters (contract §9): quota windows, cool-downs and budget spend.
 * One interface, a memory and a Redis implementation, and a failover wrapper (STYLE.md,
 * borrowed from fastify-rate-limit). Every call carries `nowMs`: the store never reads a clock,
 * so one test clock drives every implementation (STYLE.md, DI).
 */
import type { Logger } from 'pino';
import type { Limits } from './limits.js';
import { MemoryQuotaStore } from './memory-store.js';
import { FailoverQuotaStore, type PrimaryStore } from './failover-store.js';

export type QuotaScope = 'project' | 'tenant' | 'key';
export type QuotaDimension = 'rpm' | 'tpm' | 'rpd' | 'ipm';

export interface AdmitCommand {
  projectId: string;
  model: string;
  tenantId: string;
  projectLimits: Limits;
  tenantLimits: Limits;
  /**
   * The calling key, when it has limits of its own (#13.3): a third scope, checked and counted in
   * the same atomic step as the project and the tenant. A key without limits is not counted.
   */
  keyId?: string;
  keyLimits?: Limits;
  /**
   * The pool the project belongs to (#17), when it belongs to one: every counter of a pooled
   * project lives under the pool's hash tag, so one admission over the whole pool touches one
   * Cluster slot. Undefined: the project's own tag, as before pools.
   */
  slot?: string;
  /** Unique across instances: names this admission's entry in the minute logs. No '|'. */
  entryId: string;
  tokens: number;
  images: number;
  nowMs: number;
  /** Pacific day (YYYY-MM-DD) of nowMs, and the instant it ends (the `rpd` reset). */
  day: string;
  dayEndsAtMs: number;
}

/**
 * One admission over a pool (#17): the first project, in the order given, that has room on
 * every dimension of its own limits and is not cooling down, with the tenant's (and key's)
 * limits counted once across the pool. One atomic step: one Lua script on Redis.
 */
export interface PoolAdmitCommand extends Omit<AdmitCommand, 'projectId' | 'projectLimits' | 'slot'> {
  /** The pool's id: the hash tag of all its keys, and the tenant's and key's scope. */
  poolId: string;
  /** The candidates, in the order to try them (weighted pools shuffle before calling). */
  projects: ReadonlyArray<{ projectId: string; projectLimits: Limits }>;
}

/**
 * Admitted: on `projectId`. Refused: no project had room; the refusal of the project that frees
 * up first (its own latest-freeing dimension, the tenant's and key's included), with its id.
 */
export type PoolAdmitOutcome = AdmitOutcome & { projectId: string };

export interface RequestCounts {
  rpm: number;
  rpd: number;
}

export type AdmitOutcome =
  | { admitted: true; usedAfter: { project: RequestCounts; tenant: RequestCounts; key?: RequestCounts } }
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
  /** Set when the admission counted the key's scope. */
  keyId?: string;
  /** As AdmitCommand.slot. */
  slot?: string;
  /** Set when the admission was a pool's: its tenant and key scopes are the pool's (slot is the pool id). */
  pooled?: boolean;
  entryId: string;
  admittedAtMs: number;
  estimatedTokens: number;
  actualTokens: number;
  estimatedImages: number;
  /** Images Google actually returned (#13.7: IPM counts them, not the ones asked for). */
  actualImages: number;
}

export interface WindowUsage {
  rpm: number;
  tpm: number;
  ipm: number;
  rpd: number;
  /** Newest entry still inside the minute window; undefined when the window is empty. */
  newestAtMs: number | undefined;
  /** The cool-down after Google's 429 in force at nowMs, until this instant; undefined when none (the admin console shows it). */
  cooldownUntilMs: number | undefined;
}

export interface QuotaCounters {
  /** Checks every dimension of project+model and tenant and counts all of them, or none. */
  admit(cmd: AdmitCommand): Promise<AdmitOutcome>;
  /** Admits on the first project of a pool with room (PoolAdmitCommand), counting all of its scopes, or none. */
  admitPool(cmd: PoolAdmitCommand): Promise<PoolAdmitOutcome>;
  /** Replaces the admission's estimated tokens and images by the actual counts in every scope it counted, if it is still in the window. */
  correctTokens(cmd: CorrectCommand): Promise<void>;
  /** Cool-down until `untilMs` (keeps a later one already set). */
  startCooldown(projectId: string, model: string, untilMs: number, nowMs: number, slot?: string): Promise<void>;
  projectUsage(projectId: string, model: string, nowMs: number, day: string, slot?: string): Promise<WindowUsage>;
}

/**
 * Which project of a pool made a thought signature (#17.5): Google accepts a signature back only
 * in the project that made it, so a request carrying one is admitted on that project. Keyed by
 * the signature's digest under the pool's hash tag (one slot per lookup on Redis Cluster).
 */
export interface PinSignaturesCommand {
  poolId: string;
  /** signatureDigest() of each signature: a signature is up to a few KB, its digest 22 characters. */
  digests: readonly string[];
  projectId: string;
  /** Forgotten from this instant on (the gateway's clock, as every deadline here); dropped from the store a little later. */
  untilMs: number;
  nowMs: number;
}

export interface SignaturePinsQuery {
  poolId: string;
  digests: readonly string[];
  nowMs: number;
}

export interface SignaturePins {
  /** Remembers that `projectId` made these signatures, until `untilMs` (a later pin of the same digest replaces it). */
  pinSignatures(cmd: PinSignaturesCommand): Promise<void>;
  /** The project each digest is pinned to, in the query's order; undefined where none is (or it lapsed). One round trip. */
  signaturePins(query: SignaturePinsQuery): Promise<Array<string | undefined>>;
}

export type BudgetPeriod = 'daily' | 'monthly';

/**
 * One budget counter: a tenant's, or one of its keys' own (#13.3), for one Pacific day or month.
 * Every counter of a tenant, its keys' included, lives under the tenant's hash tag, so a call
 * reserves against its key's and its tenant's budgets in one atomic step.
 */
export interface BudgetPeriodRef {
  /** Undefined: the tenant's own counter; set: that key's. */
  keyId?: string;
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

/** A budget counter as it stands: settled spend, and what calls in flight hold. */
export interface BudgetCounterState {
  spentNanoUsd: bigint;
  reservedNanoUsd: bigint;
}

export type BudgetReserveOutcome =
  /** Each period's counter after the reservation, in the command's order. */
  | { status: 'reserved'; counters: BudgetCounterState[] }
  /** Counters absent from the store (e.g. Redis restarted): seed them from the ledger first. */
  | { status: 'missing'; periods: BudgetPeriodRef[] }
  /** The last period in the command's order that has no room, as it stood. */
  | { status: 'refused'; period: BudgetPeriodRef; limitNanoUsd: bigint; spentNanoUsd: bigint; reservedNanoUsd: bigint };

export interface BudgetReadCommand {
  tenantId: string;
  nowMs: number;
  periods: readonly BudgetPeriodRef[];
}

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
  /** Each period's counter (holds that lapsed by nowMs dropped), undefined where it is absent (seed it first). */
  budgetRead(cmd: BudgetReadCommand): Promise<Array<BudgetCounterState | undefined>>;
}

export interface QuotaStore extends QuotaCounters, BudgetCounters, SignaturePins {
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
 * The store REDIS_URL asks for. ioredis and the Redis store are loaded only when Redis is used:
 * an instance on in-memory counters never pays their memory (#15: idle RSS).
 */
export async function createQuotaStore(opts: CreateQuotaStoreOptions): Promise<QuotaStore> {
  if (opts.redisUrl === undefined || opts.redisUrl.trim() === '') {
    opts.logger.warn('no REDIS_URL: quota and budget counters are in memory, correct for one gateway instance only');
    return new MemoryQuotaStore();
  }
  try {
    parseRedisUrl(opts.redisUrl);
  } catch (e) {
    // A typo never fixes itself: deny refuses to start; local counts locally for good, and its
    // ping names the reason (the start check logs it as an error, /readyz shows it degraded).
    if (opts.onFailure === 'deny') throw e;
    const reason = (e as Error).message;
    const unusable: PrimaryStore = {
      isAvailable: () => false,
      ping: () => Promise.reject(new Error(reason)),
      close: () => Promise.resolve(),
      ...unreachableCounters(reason),
    };
    return new FailoverQuotaStore({ primary: unusable, onFailure: 'local', logger: opts.logger });
  }
  const [{ connectRedis }, { RedisQuotaStore }] = await Promise.all([import('./redis-connection.js'), import('./redis-store.js')]);
  const primary = new RedisQuotaStore({
    client: connectRedis(opts.redisUrl, opts.commandTimeoutMs),
    ...(opts.keyPrefix !== undefined ? { keyPrefix: opts.keyPrefix } : {}),
  });
  return new FailoverQuotaStore({ primary, onFailure: opts.onFailure, logger: opts.logger });
}

/** Where REDIS_URL points: one Redis (a redis:// or rediss:// URL) or a Redis Cluster (host:port,host:port). */
export type RedisTarget = { kind: 'redis'; url: string } | { kind: 'cluster'; nodes: Array<{ host: string; port: number }> };

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$/;

/** Parses REDIS_URL; throws an Error saying what is wrong with it (#12: never a silent misconnection). */
export function parseRedisUrl(redisUrl: string): RedisTarget {
  const text = redisUrl.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text)?.[1];
  if (scheme !== undefined && /^rediss?$/i.test(scheme)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Error('REDIS_URL is not a valid URL (want redis://[user:password@]host:port[/db], rediss:// for TLS, or host:port,host:port for Redis Cluster)');
    }
    if (!url.hostname) throw new Error('REDIS_URL has no host (want redis://host:port)');
    return { kind: 'redis', url: text };
  }
  if (scheme !== undefined && text.slice(scheme.length).startsWith('://')) {
    throw new Error(`REDIS_URL has the scheme ${scheme}:// (want redis:// or rediss://, or host:port,host:port for Redis Cluster)`);
  }
  const nodes = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((hp) => {
      const i = hp.lastIndexOf(':');
      const host = i > 0 && !hp.endsWith(']') ? hp.slice(0, i) : hp;
      const port = i > 0 && !hp.endsWith(']') ? Number(hp.slice(i + 1)) : 6379;
      if (!HOST.test(host) || !Number.isInteger(port) || port <= 0 || port > 65535) {
        throw new Error(`REDIS_URL: "${hp}" is neither a redis:// URL nor a Redis Cluster node (want host:port)`);
      }
      return { host: host.replace(/^\[(.*)\]$/, '$1'), port };
    });
  if (nodes.length === 0) throw new Error('REDIS_URL names no Redis Cluster node (want host:port,host:port)');
  return { kind: 'cluster', nodes };
}

/** Where a REDIS_URL points, for the start line: never its password. */
export function describeRedisUrl(redisUrl: string): string {
  const target = parseRedisUrl(redisUrl);
  if (target.kind === 'cluster') return `Redis Cluster ${target.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  const url = new URL(target.url);
  const db = url.pathname.replace(/^\//, '');
  return `Redis ${url.protocol}//${url.hostname}:${url.port || '6379'}${db ? `/${db}` : ''}`;
}

/** Counters of a store that can never answer (a REDIS_URL that cannot be used): FailoverQuotaStore never calls them. */
function unreachableCounters(reason: string): QuotaCounters & BudgetCounters & SignaturePins {
  const fail = () => Promise.reject(new Error(reason));
  return { admit: fail, admitPool: fail, correctTokens: fail, startCooldown: fail, projectUsage: fail, budgetReserve: fail, budgetSeed: fail, budgetSettle: fail, budgetRead: fail, pinSignatures: fail, signaturePins: fail };
}
