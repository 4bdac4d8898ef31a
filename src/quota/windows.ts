/**
 * The counting periods (contract §7, §8): minute dimensions over any rolling 60 s; `rpd`,
 * daily and monthly budgets over the Pacific calendar (src/time/pacific.ts), so a day can
 * last 23 or 25 hours.
 */
import { nextPacificMidnightMs, nextPacificMonthStartMs, pacificDay, pacificDayStartMs, pacificMonth, pacificMonthStartMs } from '../time/pacific.js';

export const WINDOW_MS = 60_000;

export interface CalendarPeriod {
  /** YYYY-MM-DD for a day, YYYY-MM for a month. */
  key: string;
  startsAtMs: number;
  endsAtMs: number;
}

export function pacificDayPeriod(nowMs: number): CalendarPeriod {
  const key = pacificDay(nowMs);
  return { key, startsAtMs: pacificDayStartMs(key), endsAtMs: nextPacificMidnightMs(nowMs) };
}

export function pacificMonthPeriod(nowMs: number): CalendarPeriod {
  const key = pacificMonth(nowMs);
  return { key, startsAtMs: pacificMonthStartMs(key), endsAtMs: nextPacificMonthStartMs(nowMs) };
}

/**
 * The current Pacific day and month, recomputed only when `nowMs` leaves them: the Intl
 * calendar arithmetic costs more than an in-memory admission. One per service, no module state.
 */
export class PacificPeriods {
  #day: CalendarPeriod | undefined;
  #month: CalendarPeriod | undefined;

  day(nowMs: number): CalendarPeriod {
    const d = this.#day;
    if (d && nowMs >= d.startsAtMs && nowMs < d.endsAtMs) return d;
    return (this.#day = pacificDayPeriod(nowMs));
  }

  month(nowMs: number): CalendarPeriod {
    const m = this.#month;
    if (m && nowMs >= m.startsAtMs && nowMs < m.endsAtMs) return m;
    return (this.#month = pacificMonthPeriod(nowMs));
  }
}
