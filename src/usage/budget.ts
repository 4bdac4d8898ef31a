/**
 * Tenant budgets (contract §8): a call is refused if its worst-case cost could cross the
 * tenant's daily or monthly budget (Pacific day and month). The worst case is reserved
 * atomically in the store before the call, so concurrent calls cannot overshoot together, and
 * replaced by the actual cost afterwards. Counters lost from the store are rebuilt from the
 * ledger before deciding (contract §9): budgets are never skipped.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { GatewayError, type BudgetRefusal } from '../errors/gateway-error.js';
import type { BudgetCounters, BudgetPeriodRef } from '../quota/store.js';
import { PacificPeriods, type CalendarPeriod } from '../time/pacific-periods.js';

export interface TenantBudget {
  dailyUsd?: number;
  monthlyUsd?: number;
}

export interface BudgetReservation {
  readonly tenantId: string;
  readonly id: string;
  readonly amountNanoUsd: bigint;
  readonly periods: readonly BudgetPeriodRef[];
}

export type LoadSpendNanoUsd = (tenantId: string, fromMs: number, toMs: number) => Promise<bigint>;

export interface BudgetServiceOptions {
  store: BudgetCounters;
  /** The ledger's spend of a tenant in [fromMs, toMs): rebuilds a counter the store lost. */
  loadSpendNanoUsd: LoadSpendNanoUsd;
  logger?: Logger;
  /**
   * How long a reservation holds budget if it is never settled (instance killed mid-call).
   * Longer than the slowest call: timeoutMs x attempts plus backoff. Default 15 min.
   */
  holdMs?: number;
}

const DEFAULT_HOLD_MS = 15 * 60_000;
/** A counter vanishing again right after each rebuild means the store is not keeping writes. */
const MAX_SEED_ROUNDS = 3;

interface SeedFlight {
  periodKey: string;
  done: Promise<void>;
  /** Sequence number at completion; undefined while loading. */
  finishedAtSeq: number | undefined;
}

export class BudgetService {
  readonly #store: BudgetCounters;
  readonly #loadSpend: LoadSpendNanoUsd;
  readonly #logger: Logger | undefined;
  readonly #holdMs: number;
  /** One rebuild per tenant and period at a time in this process (the store's set-if-absent settles races between instances). */
  readonly #seeds = new Map<string, SeedFlight>();
  #seq = 0;
  readonly #periods = new PacificPeriods();

  constructor(opts: BudgetServiceOptions) {
    this.#store = opts.store;
    this.#loadSpend = opts.loadSpendNanoUsd;
    this.#logger = opts.logger;
    this.#holdMs = opts.holdMs ?? DEFAULT_HOLD_MS;
  }

  /** Holds the worst-case cost, or throws BUDGET_EXCEEDED. Undefined when the tenant has no budget. */
  async reserve(input: { tenantId: string; budget: TenantBudget; worstCaseNanoUsd: number; nowMs: number }): Promise<BudgetReservation | undefined> {
    const nowMs = Math.floor(input.nowMs);
    const periods: Array<BudgetPeriodRef & CalendarPeriod & { limitNanoUsd: bigint }> = [];
    // Daily before monthly: the store reports the last period that refuses, the one that resets later.
    if (input.budget.dailyUsd !== undefined) periods.push({ period: 'daily', ...this.#periods.day(nowMs), limitNanoUsd: usdToNano(input.budget.dailyUsd) });
    if (input.budget.monthlyUsd !== undefined) periods.push({ period: 'monthly', ...this.#periods.month(nowMs), limitNanoUsd: usdToNano(input.budget.monthlyUsd) });
    if (periods.length === 0) return undefined;

    const amountNanoUsd = nanoAmount(input.worstCaseNanoUsd);
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
        return { tenantId: input.tenantId, id: reservationId, amountNanoUsd, periods: periods.map(({ period, key, endsAtMs }) => ({ period, key, endsAtMs })) };
      }
      if (outcome.status === 'refused') {
        const p = periods.find((x) => x.period === outcome.period)!;
        const refusal: BudgetRefusal = {
          period: outcome.period,
          limitNanoUsd: Number(outcome.limitNanoUsd),
          // What counts against the budget: settled spend plus calls still in flight.
          spentNanoUsd: Number(outcome.spentNanoUsd + outcome.reservedNanoUsd),
          requestedNanoUsd: Number(amountNanoUsd),
          tenantId: input.tenantId,
          resetAtMs: p.endsAtMs,
        };
        throw new GatewayError(
          'BUDGET_EXCEEDED',
          `The ${outcome.period} budget of tenant ${input.tenantId} is ${formatUsd(outcome.limitNanoUsd)}: ` +
            `${formatUsd(outcome.spentNanoUsd)} spent and ${formatUsd(outcome.reservedNanoUsd)} held by calls in flight, ` +
            `and this call may cost up to ${formatUsd(amountNanoUsd)}. It resets at ${new Date(p.endsAtMs).toISOString()}.`,
          { budget: refusal },
        );
      }
      if (round >= MAX_SEED_ROUNDS) throw new Error(`budget counters of tenant ${input.tenantId} vanish right after each rebuild`);
      await Promise.all(
        outcome.periods.map((name) => this.#seed(input.tenantId, periods.find((x) => x.period === name)!, nowMs, issuedAtSeq)),
      );
    }
  }

  /** Replaces the reservation by the actual cost (0 when the call never went out). */
  async settle(r: BudgetReservation, actualNanoUsd: number): Promise<void> {
    await this.#store.budgetSettle({
      tenantId: r.tenantId,
      reservationId: r.id,
      amountNanoUsd: r.amountNanoUsd,
      actualNanoUsd: nanoAmount(actualNanoUsd),
      periods: r.periods,
    });
  }

  /**
   * Rebuilds one counter from the ledger. A rebuild that finished after this caller's reserve
   * was issued answers it (the 'missing' reply predates it), so concurrent callers load once.
   */
  #seed(tenantId: string, period: BudgetPeriodRef & CalendarPeriod, nowMs: number, issuedAtSeq: number): Promise<void> {
    const flightKey = `${tenantId}|${period.period}`;
    const existing = this.#seeds.get(flightKey);
    if (existing && existing.periodKey === period.key && (existing.finishedAtSeq === undefined || existing.finishedAtSeq > issuedAtSeq)) {
      return existing.done;
    }
    const flight: SeedFlight = { periodKey: period.key, finishedAtSeq: undefined, done: Promise.resolve() };
    flight.done = (async () => {
      try {
        const spentNanoUsd = await this.#loadSpend(tenantId, period.startsAtMs, period.endsAtMs);
        this.#logger?.info({ tenantId, period: period.period, periodKey: period.key, spentNanoUsd: spentNanoUsd.toString() }, 'budget counter rebuilt from the ledger');
        await this.#store.budgetSeed({ tenantId, period: { period: period.period, key: period.key, endsAtMs: period.endsAtMs }, spentNanoUsd, nowMs });
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

export function usdToNano(usd: number): bigint {
  return BigInt(Math.round(usd * 1e9));
}

function nanoAmount(n: number): bigint {
  return Number.isFinite(n) && n > 0 ? BigInt(Math.ceil(n)) : 0n;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return a <= 0n ? 0n : (a + b - 1n) / b;
}

/** $12.345678: micro-dollar precision is what contract §8 promises. */
function formatUsd(nano: bigint): string {
  const micro = ceilDiv(nano, 1000n);
  return `$${micro / 1_000_000n}.${(micro % 1_000_000n).toString().padStart(6, '0')}`;
}

