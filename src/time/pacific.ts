/**
 * Google's daily quotas reset at midnight America/Los_Angeles (limits.md §2), and usage days
 * and months follow the same calendar (contract §8). Never a fixed offset: DST makes some
 * days 23 or 25 hours long.
 */
const ZONE = 'America/Los_Angeles';

/**
 * Made on first use: it loads ICU's time-zone data (several MB of the Node binary's pages), which
 * an instance that has not served yet does not need (#15: idle RSS).
 */
let partsFormat: Intl.DateTimeFormat | undefined;
function pacificFormat(): Intl.DateTimeFormat {
  return (partsFormat ??= new Intl.DateTimeFormat('en-US', {
    timeZone: ZONE,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }));
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function localParts(ms: number): LocalParts {
  const out: Record<string, number> = {};
  for (const p of pacificFormat().formatToParts(ms)) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return out as unknown as LocalParts;
}

/** Offset of Pacific local time from UTC at `ms`, in ms (e.g. -8 h in winter). */
function offsetMs(ms: number): number {
  const p = localParts(ms);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - (ms - (ms % 1000 + 1000) % 1000);
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** The Pacific calendar date at `ms`, as YYYY-MM-DD. */
export function pacificDay(ms: number): string {
  const p = localParts(ms);
  return `${p.year}-${pad2(p.month)}-${pad2(p.day)}`;
}

/** The Pacific calendar month at `ms`, as YYYY-MM. */
export function pacificMonth(ms: number): string {
  return pacificDay(ms).slice(0, 7);
}

/** UTC instant of local midnight that starts the Pacific day `day` (YYYY-MM-DD). */
export function pacificDayStartMs(day: string): number {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const naive = Date.UTC(y, m - 1, d);
  // Midnight is never inside a DST gap in this zone (switches happen at 02:00), so one
  // correction with the offset in force just after the guess is exact.
  let guess = naive - offsetMs(naive);
  guess = naive - offsetMs(guess);
  return guess;
}

/** The Pacific day after `day`. */
export function nextPacificDay(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const next = new Date(Date.UTC(y, m - 1, d + 1));
  return next.toISOString().slice(0, 10);
}

/** UTC instant of the next Pacific midnight strictly after `ms`: when `rpd` resets. */
export function nextPacificMidnightMs(ms: number): number {
  return pacificDayStartMs(nextPacificDay(pacificDay(ms)));
}

/** UTC instant at which the Pacific month `month` (YYYY-MM) starts. */
export function pacificMonthStartMs(month: string): number {
  return pacificDayStartMs(`${month}-01`);
}

/** UTC instant at which the Pacific month after the one containing `ms` starts. */
export function nextPacificMonthStartMs(ms: number): number {
  const [y, m] = pacificMonth(ms).split('-').map(Number) as [number, number];
  const next = new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 7);
  return pacificMonthStartMs(next);
}

/** True for a well-formed, real calendar date YYYY-MM-DD. */
export function isCalendarDay(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}
