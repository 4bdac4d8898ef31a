/**
 * Budgets (contract §8, #13): a call is refused if its hold (what it is expected to cost; see
 * holdCostNanoUsd) could cross a daily or monthly budget (Pacific day and month) of its tenant
 * or of the key it came with. The hold is reserved atomically in the store in every period of
 * both, so concurrent calls cannot cross a budget together, and replaced by the real cost
 * afterwards. Counters lost from the store are rebuilt from the ledger before deciding
 * (contract §9): budgets are never skipped.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { GatewayError, type BudgetRefusal } from '../errors/gateway-error.js';
import type { BudgetCounters, BudgetCounterState, BudgetPeriodRef } from '../quota/store.js';
import { pacificDay } from '../time/pacific.js';
import { PacificPeriods, type CalendarPeriod } from '../time/pacific-periods.js';
import { formatUsd, usdToNano } from './money.js';

export interface TenantBudget {
  dailyUsd?: number;
  monthlyUsd?: number;
}

/** Whose budgets a call spends: its tenant's and its key's own (either may have none). */
export interface BudgetOwners {
  tenantId: string;
  tenantBudget?: TenantBudget | undefined;
  keyId: string;
  keyBudget?: TenantBudget | undefined;
}

export interface BudgetReservation {
  readonly tenantId: string;
  readonly id: string;
  readonly amountNanoUsd: bigint;
  readonly periods: readonly BudgetPeriodRef[];
  /** The least any of its budgets had left once this hold was taken (the remaining-budget header). */
  readonly remainingNanoUsd: bigint;
}

/** One budget as it stands: GET /v1/budget. Amounts in nano-USD; `limit` undefined: no budget set. */
export interface BudgetPeriodView {
  /** YYYY-MM-DD or YYYY-MM (Pacific). */
  key: string;
  limitNanoUsd: bigint | undefined;
  spentNanoUsd: bigint;
  heldNanoUsd: bigint;
  /** limit − spent − held, never below 0; undefined without a limit. */
  remainingNanoUsd: bigint | undefined;
  startsAtMs: number;
  resetAtMs: number;
}

export interface BudgetView {
  tenant: { id: string; daily: BudgetPeriodView; monthly: BudgetPeriodView };
  key: { id: string; daily: BudgetPeriodView; monthly: BudgetPeriodView };
}

/** The ledger's spend in [fromMs, toMs) of a tenant, or of one of its keys: rebuilds a counter the store lost. */
export type LoadSpendNanoUsd = (tenantId: string, fromMs: number, toMs: number, keyId?: string) => Promise<bigint>;

export interface BudgetServiceOptions {
  store: BudgetCounters;
  loadSpendNanoUsd: LoadSpendNanoUsd;
  logger?: Logger;
  /**
   * How long a reservation holds budget if it is never settled (instance killed mid-call).
   * Longer than the slowest call: timeoutMs x attempts plus backoff. Default 15 min.
   */
  holdMs?: number;
}

/** On relayed answers when a budget applies (#13.2): the least any of the caller's budgets has left, six-decimal USD. */
export const BUDGET_REMAINING_HEADER = 'x-nanogate-budget-remaining-usd';

const DEFAULT_HOLD_MS = 15 * 60_000;
/** A counter vanishing again right after each rebuild means the store is not keeping writes. */
const MAX_SEED_ROUNDS = 3;

interface SeedFlight {
  periodKey: string;
  done: Promise<void>;
  /** Sequence number at completion; undefined while loading. */
  finishedAtSeq: number | undefined;
}

type LimitedPeriod = BudgetPeriodRef & CalendarPeriod & { limitNanoUsd: bigint };

export class BudgetService {
  readonly #store: BudgetCounters;
  readonly #loadSpend: LoadSpendNanoUsd;
  readonly #logger: Logger | undefined;
  readonly #holdMs: number;
  /** One rebuild per counter at a time in this process (the store's set-if-absent settles races between instances). */
  readonly #seeds = new Map<string, SeedFlight>();
  #seq = 0;
  readonly #periods = new PacificPeriods();

  constructor(opts: BudgetServiceOptions) {
    this.#store = opts.store;
    this.#loadSpend = opts.loadSpendNanoUsd;
    this.#logger = opts.logger;
    this.#holdMs = opts.holdMs ?? DEFAULT_HOLD_MS;
  }

  /** True when the tenant or the key has a daily or monthly budget. */
  static applies(owners: BudgetOwners): boolean {
    return hasBudget(owners.tenantBudget) || hasBudget(owners.keyBudget);
  }

  /**
   * Holds `amountNanoUsd` in every budget of the tenant and the key, or throws BUDGET_EXCEEDED
   * having held nothing. Undefined when neither has a budget.
   */
  async reserve(input: BudgetOwners & { amountNanoUsd: number | bigint; nowMs: number }): Promise<BudgetReservation | undefined> {
    const nowMs = Math.floor(input.nowMs);
    const periods = this.#limitedPeriods(input, nowMs);
    if (periods.length === 0) return undefined;

    const amountNanoUsd = nanoAmount(input.amountNanoUsd);
    const reservationId = randomUUID();
    for (let round = 0; ; round++) {
      const issuedAtSeq = ++this.#seq;
      const outcome = await this.#store.budgetReserve({
        tenantId: input.tenantId,
        reservationId,
        amountNanoUsd,
        nowMs,
        holdUntilMs: nowMs + this.#holdMs,
        periods,
      });
      if (outcome.status === 'reserved') {
        let remainingNanoUsd: bigint | undefined;
        periods.forEach((p, i) => {
          const c = outcome.counters[i] ?? { spentNanoUsd: 0n, reservedNanoUsd: 0n };
          const left = leftOf(p.limitNanoUsd, c);
          if (remainingNanoUsd === undefined || left < remainingNanoUsd) remainingNanoUsd = left;
        });
        return { tenantId: input.tenantId, id: reservationId, amountNanoUsd, periods: periods.map(refOf), remainingNanoUsd: remainingNanoUsd ?? 0n };
      }
      if (outcome.status === 'refused') {
        const p = periods.find((x) => sameCounter(x, outcome.period))!;
        const refusal: BudgetRefusal = {
          period: p.period,
          scope: p.keyId === undefined ? 'tenant' : 'key',
          tenantId: input.tenantId,
          ...(p.keyId !== undefined ? { keyId: p.keyId } : {}),
          limitNanoUsd: outcome.limitNanoUsd,
          spentNanoUsd: outcome.spentNanoUsd,
          heldNanoUsd: outcome.reservedNanoUsd,
          requestedNanoUsd: amountNanoUsd,
          resetAtMs: p.endsAtMs,
        };
        throw new GatewayError('BUDGET_EXCEEDED', budgetRefusalMessage(refusal, nowMs), { budget: refusal });
      }
      if (round >= MAX_SEED_ROUNDS) throw new Error(`budget counters of tenant ${input.tenantId} vanish right after each rebuild`);
      await Promise.all(outcome.periods.map((ref) => this.#seed(input.tenantId, periods.find((x) => sameCounter(x, ref))!, nowMs, issuedAtSeq)));
    }
  }

  /** Replaces the reservation by the actual cost (0 when the call never went out). */
  async settle(r: BudgetReservation, actualNanoUsd: number | bigint): Promise<void> {
    await this.#store.budgetSettle({
      tenantId: r.tenantId,
      reservationId: r.id,
      amountNanoUsd: r.amountNanoUsd,
      actualNanoUsd: nanoAmount(actualNanoUsd),
      periods: r.periods,
    });
  }

  /**
   * The tenant's and the key's daily and monthly budgets as they stand (GET /v1/budget). A
   * period without a limit has no counter in the store; its spend comes from the ledger.
   */
  async read(owners: BudgetOwners, nowMsIn: number): Promise<BudgetView> {
    const nowMs = Math.floor(nowMsIn);
    const day = this.#periods.day(nowMs);
    const month = this.#periods.month(nowMs);
    const slots: Array<{ keyId: string | undefined; cal: CalendarPeriod; period: 'daily' | 'monthly'; budget: TenantBudget | undefined }> = [
      { keyId: undefined, cal: day, period: 'daily', budget: owners.tenantBudget },
      { keyId: undefined, cal: month, period: 'monthly', budget: owners.tenantBudget },
      { keyId: owners.keyId, cal: day, period: 'daily', budget: owners.keyBudget },
      { keyId: owners.keyId, cal: month, period: 'monthly', budget: owners.keyBudget },
    ];
    const limited = slots
      .map((s) => ({ s, limit: limitOf(s.budget, s.period) }))
      .filter((x): x is { s: (typeof slots)[number]; limit: number } => x.limit !== undefined)
      .map(({ s, limit }): LimitedPeriod => ({ ...(s.keyId !== undefined ? { keyId: s.keyId } : {}), period: s.period, ...s.cal, limitNanoUsd: usdToNano(limit) }));
    const counters = await this.#readCounters(owners.tenantId, limited, nowMs);
    const views = await Promise.all(
      slots.map(async (s): Promise<BudgetPeriodView> => {
        const i = limited.findIndex((p) => p.keyId === s.keyId && p.period === s.period);
        const base = { key: s.cal.key, startsAtMs: s.cal.startsAtMs, resetAtMs: s.cal.endsAtMs };
        if (i >= 0) {
          const c = counters[i]!;
          const limitNanoUsd = limited[i]!.limitNanoUsd;
          return { ...base, limitNanoUsd, spentNanoUsd: c.spentNanoUsd, heldNanoUsd: c.reservedNanoUsd, remainingNanoUsd: leftOf(limitNanoUsd, c) };
        }
        // No budget: nothing is held for it; what was spent is the ledger's.
        const spentNanoUsd = await this.#loadSpend(owners.tenantId, s.cal.startsAtMs, s.cal.endsAtMs, s.keyId);
        return { ...base, limitNanoUsd: undefined, spentNanoUsd, heldNanoUsd: 0n, remainingNanoUsd: undefined };
      }),
    );
    return {
      tenant: { id: owners.tenantId, daily: views[0]!, monthly: views[1]! },
      key: { id: owners.keyId, daily: views[2]!, monthly: views[3]! },
    };
  }

  /**
   * The least any budget of the tenant or the key has left now (the remaining-budget header of
   * an answer held whole); undefined when neither has a budget. Reads only budgeted periods.
   */
  async remaining(owners: BudgetOwners, nowMsIn: number): Promise<bigint | undefined> {
    const nowMs = Math.floor(nowMsIn);
    const periods = this.#limitedPeriods(owners, nowMs);
    if (periods.length === 0) return undefined;
    const counters = await this.#readCounters(owners.tenantId, periods, nowMs);
    let least: bigint | undefined;
    periods.forEach((p, i) => {
      const left = leftOf(p.limitNanoUsd, counters[i]!);
      if (least === undefined || left < least) least = left;
    });
    return least;
  }

  /** Counters of the limited periods, seeding those the store lacks. */
  async #readCounters(tenantId: string, periods: readonly LimitedPeriod[], nowMs: number): Promise<BudgetCounterState[]> {
    if (periods.length === 0) return [];
    for (let round = 0; ; round++) {
      const issuedAtSeq = ++this.#seq;
      const got = await this.#store.budgetRead({ tenantId, nowMs, periods: periods.map(refOf) });
      const missing = periods.filter((_, i) => got[i] === undefined);
      if (missing.length === 0) return got as BudgetCounterState[];
      if (round >= MAX_SEED_ROUNDS) throw new Error(`budget counters of tenant ${tenantId} vanish right after each rebuild`);
      await Promise.all(missing.map((p) => this.#seed(tenantId, p, nowMs, issuedAtSeq)));
    }
  }

  /**
   * The periods of the call's budgets, daily ones first: the store reports the last period that
   * refuses, so a monthly budget (which resets later) is the one named when both refuse.
   */
  #limitedPeriods(owners: BudgetOwners, nowMs: number): LimitedPeriod[] {
    const out: LimitedPeriod[] = [];
    for (const period of ['daily', 'monthly'] as const) {
      const cal = period === 'daily' ? this.#periods.day(nowMs) : this.#periods.month(nowMs);
      const tenantLimit = limitOf(owners.tenantBudget, period);
      if (tenantLimit !== undefined) out.push({ period, ...cal, limitNanoUsd: usdToNano(tenantLimit) });
      const keyLimit = limitOf(owners.keyBudget, period);
      if (keyLimit !== undefined) out.push({ keyId: owners.keyId, period, ...cal, limitNanoUsd: usdToNano(keyLimit) });
    }
    return out;
  }

  /**
   * Rebuilds one counter from the ledger. A rebuild that finished after this caller's reserve
   * was issued answers it (the 'missing' reply predates it), so concurrent callers load once.
   */
  #seed(tenantId: string, period: BudgetPeriodRef & CalendarPeriod, nowMs: number, issuedAtSeq: number): Promise<void> {
    const flightKey = `${tenantId}|${period.keyId ?? ''}|${period.period}`;
    const existing = this.#seeds.get(flightKey);
    if (existing && existing.periodKey === period.key && (existing.finishedAtSeq === undefined || existing.finishedAtSeq > issuedAtSeq)) {
      return existing.done;
    }
    const flight: SeedFlight = { periodKey: period.key, finishedAtSeq: undefined, done: Promise.resolve() };
    flight.done = (async () => {
      try {
        const spentNanoUsd = await this.#loadSpend(tenantId, period.startsAtMs, period.endsAtMs, period.keyId);
        this.#logger?.info(
          { tenantId, ...(period.keyId !== undefined ? { keyId: period.keyId } : {}), period: period.period, periodKey: period.key, spentNanoUsd: spentNanoUsd.toString() },
          'budget counter rebuilt from the ledger',
        );
        await this.#store.budgetSeed({ tenantId, period: refOf(period), spentNanoUsd, nowMs });
        flight.finishedAtSeq = ++this.#seq;
      } catch (err) {
        if (this.#seeds.get(flightKey) === flight) this.#seeds.delete(flightKey);
        if (err instanceof GatewayError) throw err;
        // Budgets are never skipped (contract §11): without the ledger, the call is refused.
        this.#logger?.error({ err, tenantId }, 'cannot rebuild a budget counter: the usage ledger is unreachable');
        throw new GatewayError('STORE_UNAVAILABLE', 'Budget counters cannot be rebuilt right now; try again shortly.');
      }
    })();
    this.#seeds.set(flightKey, flight);
    return flight.done;
  }
}

function hasBudget(b: TenantBudget | undefined): boolean {
  return b !== undefined && (b.dailyUsd !== undefined || b.monthlyUsd !== undefined);
}

function limitOf(b: TenantBudget | undefined, period: 'daily' | 'monthly'): number | undefined {
  return period === 'daily' ? b?.dailyUsd : b?.monthlyUsd;
}

function leftOf(limitNanoUsd: bigint, c: BudgetCounterState): bigint {
  const left = limitNanoUsd - c.spentNanoUsd - c.reservedNanoUsd;
  return left > 0n ? left : 0n;
}

function sameCounter(a: BudgetPeriodRef, b: BudgetPeriodRef): boolean {
  return a.keyId === b.keyId && a.period === b.period && a.key === b.key;
}

function refOf(p: BudgetPeriodRef): BudgetPeriodRef {
  return { ...(p.keyId !== undefined ? { keyId: p.keyId } : {}), period: p.period, key: p.key, endsAtMs: p.endsAtMs };
}

function nanoAmount(n: number | bigint): bigint {
  if (typeof n === 'bigint') return n > 0n ? n : 0n;
  return Number.isFinite(n) && n > 0 ? BigInt(Math.ceil(n)) : 0n;
}

/** "5 h 12 min", "3 d 5 h", "1 min": how long until a reset, minutes rounded up. */
export function formatWait(ms: number): string {
  const minutes = Math.max(1, Math.ceil(ms / 60_000));
  const d = Math.floor(minutes / 1_440);
  const h = Math.floor((minutes % 1_440) / 60);
  const m = minutes % 60;
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  return `${m} min`;
}

/**
 * What a refused call is told, on both faces (#13.2): "daily budget $0.400000 of tenant design:
 * spent $0.269760, held $0.000000 by calls in flight, this call needs about $0.134916; resets at
 * 00:00 Pacific (in 5 h 12 min)". Amounts go through the one formatter.
 */
export function budgetRefusalMessage(r: BudgetRefusal, nowMs: number): string {
  const whose = r.scope === 'key' ? `key ${r.keyId ?? '?'} (tenant ${r.tenantId})` : `tenant ${r.tenantId}`;
  // A month resets at 00:00 of its first day; the day it falls on says which midnight.
  const when = r.period === 'monthly' ? `00:00 Pacific on ${pacificDay(r.resetAtMs)}` : '00:00 Pacific';
  return (
    `${r.period} budget $${formatUsd(r.limitNanoUsd)} of ${whose}: spent $${formatUsd(r.spentNanoUsd)}, ` +
    `held $${formatUsd(r.heldNanoUsd)} by calls in flight, this call needs about $${formatUsd(r.requestedNanoUsd)}; ` +
    `resets at ${when} (in ${formatWait(r.resetAtMs - nowMs)})`
  );
}
