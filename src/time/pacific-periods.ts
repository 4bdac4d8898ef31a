/**
 * Pacific calendar periods (contract §7, §8): `rpd`, usage days and daily and monthly budgets
 * count the Pacific calendar, so a day can last 23 or 25 hours.
 */
import { nextPacificMidnightMs, nextPacificMonthStartMs, pacificDay, pacificDayStartMs, pacificMonth, pacificMonthStartMs } from './pacific.js';

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
