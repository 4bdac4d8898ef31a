/**
 * Redis unreachable (contract §11): with `onFailure: local`, count in this instance's memory
 * until Redis answers again; with `deny`, refuse with 503 STORE_UNAVAILABLE. Budgets go through
 * the same path, never skipped: the local counters are missing at first, so BudgetService
 * rebuilds them from the ledger. A wrapper, so neither store knows about the other.
 */
import type { Logger } from 'pino';
import { GatewayError } from '../errors/gateway-error.js';
import { MemoryQuotaStore } from './memory-store.js';
import type { BudgetPeriodRef, BudgetSettleCommand, QuotaStore } from './store.js';

/** The primary: a store that can say it is reconnecting, so calls skip it without waiting. */
export interface PrimaryStore extends QuotaStore {
  isAvailable(): boolean;
}

export interface FailoverQuotaStoreOptions {
  primary: PrimaryStore;
  onFailure: 'local' | 'deny';
  logger?: Logger;
  /** A fresh local store for each outage; default MemoryQuotaStore. */
  createFallback?: () => QuotaStore;
}

export class FailoverQuotaStore implements QuotaStore {
  readonly #primary: PrimaryStore;
  readonly #onFailure: 'local' | 'deny';
  readonly #logger: Logger | undefined;
  readonly #createFallback: () => QuotaStore;
  /** Set during an outage; fresh each time, so counts from an earlier outage never linger. */
  #fallback: QuotaStore | undefined;
  /**
   * Spend settled locally during the outage, per tenant and period. If Redis kept its data
   * (a partition, not a restart) its counters lack this spend: it is added back on recovery.
   * A counter Redis lost is rebuilt from the ledger instead, and the replay skips it.
   */
  #unsyncedSpend = new Map<string, { tenantId: string; period: BudgetPeriodRef; nanoUsd: bigint }>();

  constructor(opts: FailoverQuotaStoreOptions) {
    this.#primary = opts.primary;
    this.#onFailure = opts.onFailure;
    this.#logger = opts.logger;
    this.#createFallback = opts.createFallback ?? (() => new MemoryQuotaStore());
  }

  /** True while calls are served by local counters. */
  get degraded(): boolean {
    return this.#fallback !== undefined;
  }

  admit: QuotaStore['admit'] = (cmd) => this.#run((s) => s.admit(cmd));
  correctTokens: QuotaStore['correctTokens'] = (cmd) => this.#run((s) => s.correctTokens(cmd));
  startCooldown: QuotaStore['startCooldown'] = (projectId, model, untilMs, nowMs) =>
    this.#run((s) => s.startCooldown(projectId, model, untilMs, nowMs));
  projectUsage: QuotaStore['projectUsage'] = (projectId, model, nowMs, day) => this.#run((s) => s.projectUsage(projectId, model, nowMs, day));
  budgetReserve: QuotaStore['budgetReserve'] = (cmd) => this.#run((s) => s.budgetReserve(cmd));
  budgetSeed: QuotaStore['budgetSeed'] = (cmd) => this.#run((s) => s.budgetSeed(cmd));
  budgetSettle: QuotaStore['budgetSettle'] = (cmd) =>
    this.#run(async (s) => {
      await s.budgetSettle(cmd);
      if (s !== this.#primary) this.#noteUnsyncedSpend(cmd);
    });

  /** Readiness is the primary's: /readyz fails while Redis is down, even if requests pass locally. */
  ping(): Promise<void> {
    return this.#primary.ping();
  }

  async close(): Promise<void> {
    await this.#primary.close();
    await this.#fallback?.close();
  }

  async #run<T>(op: (s: QuotaStore) => Promise<T>): Promise<T> {
    if (this.#primary.isAvailable()) {
      let result: T;
      try {
        result = await op(this.#primary);
      } catch (err) {
        return this.#degrade(op, err);
      }
      if (this.#fallback) await this.#recover();
      return result;
    }
    return this.#degrade(op, new Error('quota store is not connected'));
  }

  async #recover(): Promise<void> {
    const old = this.#fallback;
    this.#fallback = undefined;
    const spend = [...this.#unsyncedSpend.values()];
    this.#unsyncedSpend = new Map();
    this.#logger?.info({ tenantPeriods: spend.length }, 'quota store reachable again: shared counters resumed');
    await old?.close();
    for (const s of spend) {
      try {
        await this.#primary.budgetSettle({ tenantId: s.tenantId, reservationId: 'outage-replay', amountNanoUsd: 0n, actualNanoUsd: s.nanoUsd, periods: [s.period] });
      } catch (err) {
        this.#logger?.warn({ err, tenantId: s.tenantId, period: s.period }, 'could not add outage spend to the shared budget counter');
      }
    }
  }

  #noteUnsyncedSpend(cmd: BudgetSettleCommand): void {
    if (cmd.actualNanoUsd === 0n) return;
    for (const period of cmd.periods) {
      const key = `${cmd.tenantId}|${period.period}|${period.key}`;
      const entry = this.#unsyncedSpend.get(key);
      if (entry) entry.nanoUsd += cmd.actualNanoUsd;
      else this.#unsyncedSpend.set(key, { tenantId: cmd.tenantId, period, nanoUsd: cmd.actualNanoUsd });
    }
  }

  #degrade<T>(op: (s: QuotaStore) => Promise<T>, err: unknown): Promise<T> {
    if (!this.#fallback) {
      this.#fallback = this.#createFallback();
      // Once per outage: every request would log it otherwise.
      this.#logger?.warn(
        { err, onFailure: this.#onFailure },
        this.#onFailure === 'local'
          ? 'quota store unreachable: counting in this instance only until it is back'
          : 'quota store unreachable: refusing requests until it is back',
      );
    }
    if (this.#onFailure === 'deny') {
      return Promise.reject(new GatewayError('STORE_UNAVAILABLE', 'The quota store is unreachable; try again shortly.'));
    }
    return op(this.#fallback);
  }
}
