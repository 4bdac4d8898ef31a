/**
 * Follows submitted batches until they are settled (#16). Every instance runs one; only the one
 * holding the database lease works, so N instances do not all poll Google (and if it dies, the
 * lease lapses and another takes over). A tick: take or renew the lease, then for each
 * unsettled batch, oldest first: find a lost submission, ask Google how it stands, and settle it
 * once it has ended.
 *
 * Timers are injected; tests call tick() instead of waiting.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import type { StoredBatch } from '../db/batch-store.js';
import { randomHex } from '../random/pool.js';
import type { Clock } from '../time/clock.js';
import { isTerminal } from './batch-doc.js';
import type { BatchService } from './batch-service.js';
import { settleBatch, type SettleOptions, type SettlementDeps } from './settlement.js';

export const FOLLOWER_LEASE = 'batch-follower';

export interface FollowerTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const nodeTimers: FollowerTimers = {
  setTimeout: (callback, ms) => {
    const t = setTimeout(callback, ms);
    // The follower never keeps a process alive on its own.
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface FollowerOptions {
  db: Database;
  service: BatchService;
  settlement: SettlementDeps;
  clock: Clock;
  logger: Logger;
  intervalMs: number;
  leaseMs: number;
  /** A batch still SUBMITTING this long after it started is looked for at Google (its create call cannot still be running). */
  submitGraceMs: number;
  /** Unique per process; default host:pid:random. */
  holder?: string;
  timers?: FollowerTimers;
  /** Batches looked at per tick. */
  batchesPerTick?: number;
  settleOptions?: Omit<SettleOptions, 'keepAlive'>;
}

export interface TickResult {
  leader: boolean;
  refreshed: number;
  settled: number;
  failed: number;
}

export class BatchFollower {
  readonly #o: FollowerOptions;
  readonly #holder: string;
  readonly #timers: FollowerTimers;
  #timer: unknown;
  #running: Promise<TickResult> | undefined;
  #stopped = false;
  /** Aborts Google reads in progress at stop(). */
  #abort = new AbortController();

  constructor(opts: FollowerOptions) {
    this.#o = opts;
    this.#holder = opts.holder ?? `${hostname()}:${process.pid}:${randomHex(4)}`;
    this.#timers = opts.timers ?? nodeTimers;
  }

  get holder(): string {
    return this.#holder;
  }

  /** Ticks now and then every intervalMs, until stop(). */
  start(): void {
    this.#stopped = false;
    if (this.#abort.signal.aborted) this.#abort = new AbortController();
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      void this.tick()
        .catch((err: unknown) => this.#o.logger.warn({ err: (err as Error).message }, 'batch follower tick failed'))
        .finally(() => this.#schedule(this.#o.intervalMs));
    }, ms);
  }

  /** One round; a tick already running is joined, not doubled. */
  tick(): Promise<TickResult> {
    this.#running ??= this.#tick().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #renew(): Promise<boolean> {
    return this.#o.db.acquireLease(FOLLOWER_LEASE, this.#holder, this.#o.clock.nowMs(), this.#o.leaseMs);
  }

  async #tick(): Promise<TickResult> {
    const result: TickResult = { leader: false, refreshed: 0, settled: 0, failed: 0 };
    if (!(await this.#renew())) return result;
    result.leader = true;
    // Google runs at most 100 batches at once per project: a thousand covers every project's.
    const rows = await this.#o.db.unsettledBatches(this.#o.batchesPerTick ?? 1_000);
    for (const row of rows) {
      if (this.#abort.signal.aborted) break;
      try {
        await this.#follow(row, result);
      } catch (err) {
        result.failed++;
        this.#o.logger.warn({ err: (err as Error).message, batch: row.name }, 'following a batch failed; it is tried again next tick');
      }
    }
    return result;
  }

  async #follow(row: StoredBatch, result: TickResult): Promise<void> {
    let current = row;
    if (current.state === 'SUBMITTING') {
      if (this.#o.clock.nowMs() - current.createdAtMs < this.#o.submitGraceMs) return;
      current = await this.#o.service.recoverSubmission(current);
      if (current.settledAtMs !== null) return;
    }
    if (!isTerminal(current.state)) {
      current = await this.#o.service.refresh(current);
      result.refreshed++;
    }
    if (!isTerminal(current.state)) return;
    const outcome = await settleBatch(current, this.#o.settlement, {
      ...this.#o.settleOptions,
      signal: this.#abort.signal,
      keepAlive: async () => {
        // A long settlement keeps the lease; losing it changes nothing about correctness
        // (settlement is idempotent), only that another instance may start following too.
        if (!(await this.#renew())) this.#o.logger.warn({ batch: current.name }, 'batch follower lost its lease during a settlement');
      },
    });
    if (outcome.settled) result.settled++;
  }

  /** Stops ticking, waits for a tick in progress, gives the lease up. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
    await this.#o.db.releaseLease(FOLLOWER_LEASE, this.#holder).catch(() => {});
  }
}
