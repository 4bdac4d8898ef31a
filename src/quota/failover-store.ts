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

interface UnsyncedSpend {
  tenantId: string;
  period: BudgetPeriodRef;
  nanoUsd: bigint;
}

/** One outage: its own local counters (so counts never linger into the next outage). */
interface Outage {
  store: QuotaStore;
  /**
   * Spend settled locally, per tenant and period. If Redis kept its data (a partition, not a
   * restart) its counters lack this spend, so it is added back before Redis decides again.
   * A counter Redis lost is rebuilt from the ledger instead, and the replay skips it.
   */
  unsynced: Map<string, UnsyncedSpend>;
  /** Set once the outage is over: local settles still arriving are replayed one by one. */
  recovered: boolean;
  /** A call is trying Redis again. */
  probing: boolean;
}

export class FailoverQuotaStore implements QuotaStore {
  readonly #primary: PrimaryStore;
  readonly #onFailure: 'local' | 'deny';
  readonly #logger: Logger | undefined;
  readonly #createFallback: () => QuotaStore;
  #outage: Outage | undefined;

  constructor(opts: FailoverQuotaStoreOptions) {
    this.#primary = opts.primary;
    this.#onFailure = opts.onFailure;
    this.#logger = opts.logger;
    this.#createFallback = opts.createFallback ?? (() => new MemoryQuotaStore());
  }

  /** True while calls are served by local counters (or refused, with deny). */
  get degraded(): boolean {
    return this.#outage !== undefined;
  }

  admit: QuotaStore['admit'] = (cmd) => this.#run((s) => s.admit(cmd));
  admitPool: QuotaStore['admitPool'] = (cmd) => this.#run((s) => s.admitPool(cmd));
  correctTokens: QuotaStore['correctTokens'] = (cmd) => this.#run((s) => s.correctTokens(cmd));
  startCooldown: QuotaStore['startCooldown'] = (projectId, model, untilMs, nowMs, slot) =>
    this.#run((s) => s.startCooldown(projectId, model, untilMs, nowMs, slot));
  projectUsage: QuotaStore['projectUsage'] = (projectId, model, nowMs, day, slot) => this.#run((s) => s.projectUsage(projectId, model, nowMs, day, slot));
  budgetReserve: QuotaStore['budgetReserve'] = (cmd) => this.#run((s) => s.budgetReserve(cmd));
  budgetSeed: QuotaStore['budgetSeed'] = (cmd) => this.#run((s) => s.budgetSeed(cmd));
  budgetRead: QuotaStore['budgetRead'] = (cmd) => this.#run((s) => s.budgetRead(cmd));
  // A pin made during an outage lives in that outage's local store and is gone with it (README: pools).
  pinSignatures: QuotaStore['pinSignatures'] = (cmd) => this.#run((s) => s.pinSignatures(cmd));
  signaturePins: QuotaStore['signaturePins'] = (query) => this.#run((s) => s.signaturePins(query));
  budgetSettle: QuotaStore['budgetSettle'] = (cmd) =>
    this.#run(async (s, outage) => {
      await s.budgetSettle(cmd);
      if (outage) await this.#noteLocalSpend(outage, cmd);
    });

  /** Readiness is the primary's: /readyz fails while Redis is down, even if requests pass locally. */
  ping(): Promise<void> {
    return this.#primary.ping();
  }

  async close(): Promise<void> {
    await this.#primary.close();
    await this.#outage?.store.close();
  }

  async #run<T>(op: (s: QuotaStore, outage?: Outage) => Promise<T>): Promise<T> {
    if (!this.#primary.isAvailable()) return this.#degrade(op, new Error('quota store is not connected'));
    const outage = this.#outage;
    if (!outage) {
      try {
        return await op(this.#primary);
      } catch (err) {
        return this.#degrade(op, err);
      }
    }
    // One call at a time finds out whether Redis is back; the others stay local meanwhile,
    // so a hung Redis costs one command timeout at a time, not one per request.
    if (outage.probing) return this.#degrade(op, undefined);
    outage.probing = true;
    try {
      // Redis must hold the outage's spend before it decides anything again.
      if (!(await this.#replay(outage))) return this.#degrade(op, undefined);
      let result: T;
      try {
        result = await op(this.#primary);
      } catch (err) {
        return this.#degrade(op, err);
      }
      // Over only once Redis has really answered a call.
      this.#endOutage(outage);
      return result;
    } finally {
      outage.probing = false;
    }
  }

  #degrade<T>(op: (s: QuotaStore, outage?: Outage) => Promise<T>, err: unknown): Promise<T> {
    if (!this.#outage) {
      this.#outage = { store: this.#createFallback(), unsynced: new Map(), recovered: false, probing: false };
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
    return op(this.#outage.store, this.#outage);
  }

  /** Adds the outage's local spend to Redis; false if Redis fails meanwhile (what was added is not added again). */
  async #replay(outage: Outage): Promise<boolean> {
    for (const [key, spend] of [...outage.unsynced]) {
      // Taken out before sending: local settles finishing meanwhile start a fresh entry.
      outage.unsynced.delete(key);
      try {
        await this.#addSpend(spend);
      } catch {
        const entry = outage.unsynced.get(key);
        if (entry) entry.nanoUsd += spend.nanoUsd;
        else outage.unsynced.set(key, spend);
        return false;
      }
    }
    return true;
  }

  #endOutage(outage: Outage): void {
    outage.recovered = true;
    this.#outage = undefined;
    this.#logger?.info('quota store reachable again: shared counters resumed');
    // Spend noted while the first calls went to Redis: add it now, as later local settles will be.
    for (const spend of outage.unsynced.values()) void this.#addSpendOrWarn(spend);
    outage.unsynced.clear();
    void outage.store.close();
  }

  async #noteLocalSpend(outage: Outage, cmd: BudgetSettleCommand): Promise<void> {
    if (cmd.actualNanoUsd === 0n) return;
    for (const period of cmd.periods) {
      const spend = { tenantId: cmd.tenantId, period, nanoUsd: cmd.actualNanoUsd };
      if (outage.recovered) {
        // The call began during the outage and ended after it: replay its cost directly.
        await this.#addSpendOrWarn(spend);
        continue;
      }
      const key = `${cmd.tenantId}|${period.keyId ?? ''}|${period.period}|${period.key}`;
      const entry = outage.unsynced.get(key);
      if (entry) entry.nanoUsd += cmd.actualNanoUsd;
      else outage.unsynced.set(key, spend);
    }
  }

  async #addSpendOrWarn(s: UnsyncedSpend): Promise<void> {
    try {
      await this.#addSpend(s);
    } catch (err) {
      this.#logger?.warn({ err, tenantId: s.tenantId, period: s.period }, 'could not add outage spend to the shared budget counter');
    }
  }

  /** A settle with no hold: adds to `spent` only where Redis still has the counter. */
  #addSpend(s: UnsyncedSpend): Promise<void> {
    return this.#primary.budgetSettle({ tenantId: s.tenantId, reservationId: 'outage-replay', amountNanoUsd: 0n, actualNanoUsd: s.nanoUsd, periods: [s.period] });
  }
}
