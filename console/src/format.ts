/** How numbers, money and times read on the page. Money arrives as the API's exact USD text. */

const integer = new Intl.NumberFormat('en-US');
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

export function int(n: number): string {
  return integer.format(n);
}

export function short(n: number): string {
  return n < 10_000 ? integer.format(n) : compact.format(n);
}

/** "$12.345678": the API's six decimals as they are, so what is shown is what it summed. */
export function usd(text: string): string {
  return text.startsWith('-') ? `-$${text.slice(1)}` : `$${text}`;
}

/** A budget's limit as a person wrote it: "$25", "$7.50" (the API's exact text, trailing zeros dropped). */
export function usdLimit(text: string): string {
  const [whole, fraction = ''] = text.split('.');
  const f = fraction.replace(/0+$/, '');
  return `$${whole}${f ? `.${f.padEnd(2, '0')}` : ''}`;
}

/** "$12.35" for axes and small figures where the cents suffice. */
export function usdShort(n: number): string {
  if (n === 0) return '$0';
  if (Math.abs(n) < 0.01) return `$${n.toFixed(4)}`;
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Exact USD text to micro-dollars, for arithmetic without floating point drift. */
export function micro(text: string): bigint {
  const negative = text.startsWith('-');
  const [whole = '0', fraction = ''] = (negative ? text.slice(1) : text).split('.');
  const m = BigInt(whole) * 1_000_000n + BigInt((fraction + '000000').slice(0, 6));
  return negative ? -m : m;
}

export function microText(m: bigint): string {
  const negative = m < 0n;
  const a = negative ? -m : m;
  return `${negative ? '-' : ''}${a / 1_000_000n}.${(a % 1_000_000n).toString().padStart(6, '0')}`;
}

/** "3h 12m", "42s": what is left until an instant. */
export function duration(ms: number): string {
  if (ms <= 0) return 'now';
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "Nov 27, 10:04:31" in the browser's zone. */
export function time(iso: string): string {
  return new Date(iso).toLocaleString('en-US', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** "Nov 27, 2026" for a YYYY-MM-DD or an ISO instant's date. */
export function date(isoOrDay: string): string {
  const day = isoOrDay.slice(0, 10);
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString('en-US', { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });
}

/** "Nov 27" for a chart axis. */
export function dayLabel(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

/** Every YYYY-MM-DD from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const [y, m, d] = from.split('-').map(Number) as [number, number, number];
  for (let t = Date.UTC(y, m - 1, d); out.length < 400; t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    if (day > to) break;
    out.push(day);
  }
  return out;
}

/** YYYY-MM-DD shifted by whole days. */
export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

export const PALETTE = ['#6366f1', '#f59e0b', '#10b981', '#ef4444', '#06b6d4', '#a855f7', '#ec4899', '#84cc16', '#64748b', '#f97316'];
