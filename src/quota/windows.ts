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
