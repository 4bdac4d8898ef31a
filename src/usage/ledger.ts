/**
 * Writes usage records to the database in batches, off the request path (contract §9).
 * A record is never dropped: a failed batch stays at the head of the queue, in order, and is
 * retried with backoff; while the database is down records pile up in memory, and once that
 * backlog is full the gateway refuses new upstream calls (503) instead of losing records.
 * A hard kill loses at most the records of the last flush interval.
 */
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { systemClock, type Clock } from '../time/clock.js';
import type { UsageRecord } from './record.js';

/** Injectable timers: tests fire them by hand instead of sleeping. */
export interface LedgerTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface LedgerOptions {
  db: Database;
  logger: Logger;
  /** Default 200: a hard kill loses at most this much. */
  flushIntervalMs?: number;
  /** Default 1000 records per insert. */
  maxBatch?: number;
  /** Default 100 000 records held while the database is down; past it isFull() is true. */
  maxBacklog?: number;
  /** Wait before retry number `attempt` (1, 2, …) of a failed write. Default: 100 ms doubling to 5 s. */
  retryDelayMs?: (attempt: number) => number;
  timers?: LedgerTimers;
  /** Measures close()'s deadline. */
  clock?: Clock;
  /** How long close() keeps retrying a failing database before giving up. Default 10 000. */
  closeTimeoutMs?: number;
}

const defaultRetryDelayMs = (attempt: number): number => Math.min(100 * 2 ** (attempt - 1), 5_000);

const nodeTimers: LedgerTimers = {
  // Not unref'd: a pending flush or retry keeps the process alive until the records are written,
  // and close()'s retry waits must not let a shutting-down process exit early.
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export class UsageLedger {
  readonly #db: Database;
  readonly #logger: Logger;
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxBacklog: number;
  readonly #retryDelayMs: (attempt: number) => number;
  readonly #timers: LedgerTimers;
  readonly #clock: Clock;
  readonly #closeTimeoutMs: number;

  /** Oldest first. A batch leaves the queue only once the database has committed it. */
  #pending: UsageRecord[] = [];
  #timer: unknown;
  #timerSet = false;
  #writing: Promise<void> | undefined;
  /** Consecutive failed writes; 0 while the database is healthy. */
  #failures = 0;
  #closing = false;
  #closed = false;
  #wasFull = false;

  constructor(opts: LedgerOptions) {
    this.#db = opts.db;
    this.#logger = opts.logger;
    this.#flushIntervalMs = opts.flushIntervalMs ?? 200;
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 1_000);
    this.#maxBacklog = Math.max(1, opts.maxBacklog ?? 100_000);
    this.#retryDelayMs = opts.retryDelayMs ?? defaultRetryDelayMs;
    this.#timers = opts.timers ?? nodeTimers;
    this.#clock = opts.clock ?? systemClock;
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
  }

  /** Synchronous enqueue on the request path: never throws, never waits. */
  record(r: UsageRecord): void {
    if (this.#closed) {
      // Nothing will write it: say so, with its id, rather than lose it silently.
      try {
        this.#logger.error({ id: r.id, requestId: r.requestId, tenant: r.tenantId }, 'usage record arrived after the ledger closed: not written');
      } catch {
        // A failing log destination must not fail the request that is being recorded.
      }
      return;
    }
    // Accepted even past maxBacklog: calls admitted before the backlog filled still finish and
    // must be recorded; isFull() stops new ones from starting.
    this.#pending.push(r);
    this.#schedule();
    if (!this.#wasFull && this.#pending.length >= this.#maxBacklog) {
      this.#wasFull = true;
      try {
        this.#logger.error({ backlog: this.#pending.length }, 'usage backlog full: refusing new upstream calls until the database recovers');
      } catch {
        // A failing log destination must not fail the request that is being recorded.
      }
    }
  }

  /** True when the backlog is full: the gateway refuses new upstream calls with 503 (contract §9). */
  isFull(): boolean {
    return this.#pending.length >= this.#maxBacklog;
  }

  backlog(): number {
    return this.#pending.length;
  }

  /** Writes everything pending now; rejects (keeping the records queued) if the database fails. */
  async flush(): Promise<void> {
    this.#cancelTimer();
    try {
      await this.#drain();
    } finally {
      this.#schedule();
    }
  }

  /** Stops the timer and flushes, retrying until the queue is empty or closeTimeoutMs has passed. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#cancelTimer();
    const deadlineMs = this.#clock.nowMs() + this.#closeTimeoutMs;
    for (;;) {
      try {
        await this.#drain();
        this.#closed = true;
        return;
      } catch {
        if (this.#clock.nowMs() >= deadlineMs) {
          // The process is about to exit: these records are lost, and the operator must know how many.
          this.#logger.error(
            { unwritten: this.#pending.length, firstId: this.#pending[0]?.id, lastId: this.#pending.at(-1)?.id },
            'usage ledger closed with records unwritten: database unreachable until the deadline',
          );
          this.#closed = true;
          return;
        }
        await new Promise<void>((resolve) => this.#timers.setTimeout(resolve, this.#retryDelayMs(this.#failures)));
      }
    }
  }

  /**
   * Records of this tenant (or of one of its keys, with `keyId`) not yet in the database,
   * fromMs <= timeMs < toMs: a budget rebuild adds them to the database's sum.
   */
  pendingCostNanoUsd(tenantId: string, fromMs: number, toMs: number, keyId?: string): bigint {
    let sum = 0n;
    for (const r of this.#pending) {
      if (keyId !== undefined && r.keyId !== keyId) continue;
      // Rounded as the database stores it (BigInt() throws on a fraction).
      if (r.tenantId === tenantId && r.timeMs >= fromMs && r.timeMs < toMs && Number.isFinite(r.costNanoUsd)) {
        sum += BigInt(Math.round(r.costNanoUsd));
      }
    }
    return sum;
  }

  /** A request's records not yet in the database (written within the last flush interval). */
  pendingForRequest(requestId: string): UsageRecord[] {
    return this.#pending.filter((r) => r.requestId === requestId);
  }

  #schedule(): void {
    if (this.#closing || this.#timerSet || this.#writing || this.#pending.length === 0) return;
    const delayMs = this.#failures > 0 ? this.#retryDelayMs(this.#failures) : this.#flushIntervalMs;
    this.#timerSet = true;
    this.#timer = this.#timers.setTimeout(() => {
      this.#timerSet = false;
      this.#timer = undefined;
      // Failures are logged and rescheduled inside #drain.
      this.#drain()
        .catch(() => {})
        .finally(() => this.#schedule());
    }, delayMs);
  }

  #cancelTimer(): void {
    if (!this.#timerSet) return;
    this.#timers.clearTimeout(this.#timer);
    this.#timerSet = false;
    this.#timer = undefined;
  }

  /** One writer at a time, so batches reach the database in the order they were recorded. */
  #drain(): Promise<void> {
    this.#writing ??= this.#writeAll().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  async #writeAll(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.slice(0, this.#maxBatch);
      try {
        await this.#db.insertUsage(batch);
      } catch (e) {
        this.#failures++;
        // Ids only: records carry tenant and user data that has no place in logs.
        this.#logger.warn(
          {
            err: e instanceof Error ? e.message : String(e),
            attempt: this.#failures,
            batchSize: batch.length,
            firstId: batch[0]?.id,
            lastId: batch.at(-1)?.id,
            backlog: this.#pending.length,
          },
          'usage write failed; records kept and retried',
        );
        throw e;
      }
      // Records are only appended while the write ran, so the batch is still the queue's head.
      this.#pending.splice(0, batch.length);
      if (this.#failures > 0) {
        this.#logger.info({ afterAttempts: this.#failures, backlog: this.#pending.length }, 'usage writes recovered');
        this.#failures = 0;
      }
      if (this.#wasFull && this.#pending.length < this.#maxBacklog) {
        this.#wasFull = false;
        this.#logger.info({ backlog: this.#pending.length }, 'usage backlog below its limit: accepting upstream calls again');
      }
    }
  }
}
