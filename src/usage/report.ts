/**
 * Usage reports (contract §8): `GET /admin/usage` and `GET /v1/usage` parse their query string
 * here, run `Database.queryUsage`, and render JSON or CSV. Costs are summed as exact bigint
 * nano-USD and formatted once, so totals equal the sum of their rows to the last digit.
 */
import { GROUP_BY_KEYS, type GroupBy, type UsageCounts, type UsageQuery, type UsageRow } from '../db/database.js';
import { GatewayError } from '../errors/gateway-error.js';
import { isCalendarDay, pacificMonth } from '../time/pacific.js';
import { formatUsd } from './money.js';

export type UsageFormat = 'json' | 'csv';

/** Longest report range, in days counting both ends: a year, leap years included. */
export const MAX_REPORT_DAYS = 366;

/** Grouping when the URL names none. `groupBy=` (empty) asks for totals only. */
export const DEFAULT_GROUP_BY: readonly GroupBy[] = ['day'];

export interface ParseUsageOptions {
  /**
   * The tenant route (`/v1/usage`) passes the caller's tenant: the report is limited to it, and
   * a `tenant` parameter naming another tenant is refused.
   */
  scopeTenantId?: string;
  maxDays?: number;
  /** Now: `from` and `to` default to the first and last day of its Pacific month. */
  nowMs?: number;
}

const invalid = (param: string, message: string): GatewayError => new GatewayError('INVALID_ARGUMENT', message, { param });

/** A query parameter as a single string: a repeated parameter is ambiguous, so it is refused. */
function single(params: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(name, `${name} must be given once, as a string`);
  return v;
}

function day(params: Readonly<Record<string, unknown>>, name: 'from' | 'to', fallback: string | undefined): string {
  const v = single(params, name);
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    throw invalid(name, `${name} is required (a Pacific day, YYYY-MM-DD)`);
  }
  if (!isCalendarDay(v)) throw invalid(name, `${name} must be a calendar day YYYY-MM-DD, got '${v}'`);
  return v;
}

/** The first and last day (YYYY-MM-DD) of the Pacific month at `nowMs`. */
export function pacificMonthDays(nowMs: number): { first: string; last: string } {
  const month = pacificMonth(nowMs);
  const [y, m] = month.split('-').map(Number) as [number, number];
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return { first: `${month}-01`, last: `${month}-${String(days).padStart(2, '0')}` };
}

function groupBy(raw: string | undefined): GroupBy[] {
  if (raw === undefined) return [...DEFAULT_GROUP_BY];
  if (raw.trim() === '') return [];
  const out: GroupBy[] = [];
  for (const part of raw.split(',')) {
    const key = part.trim();
    if (!(GROUP_BY_KEYS as readonly string[]).includes(key)) {
      throw invalid('groupBy', `groupBy: unknown key '${key}'; use a comma list of ${GROUP_BY_KEYS.join(', ')}`);
    }
    if (out.includes(key as GroupBy)) throw invalid('groupBy', `groupBy lists '${key}' twice`);
    out.push(key as GroupBy);
  }
  return out;
}

function optionalFilter(params: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = single(params, name);
  return v === undefined || v === '' ? undefined : v;
}

const daysInclusive = (fromDay: string, toDay: string): number =>
  Math.round((Date.parse(`${toDay}T00:00:00Z`) - Date.parse(`${fromDay}T00:00:00Z`)) / 86_400_000) + 1;

/**
 * Validates the report's URL parameters: from, to (inclusive Pacific days; with `nowMs`, the
 * current Pacific month when left out), tenant, project, model (canonical id), key, user,
 * groupBy (comma list), format (json | csv). Throws
 * GatewayError('INVALID_ARGUMENT') naming the parameter at fault.
 */
export function parseUsageQuery(
  params: Readonly<Record<string, unknown>>,
  opts: ParseUsageOptions = {},
): { query: UsageQuery; format: UsageFormat } {
  const month = opts.nowMs !== undefined ? pacificMonthDays(opts.nowMs) : undefined;
  const fromDay = day(params, 'from', month?.first);
  const toDay = day(params, 'to', month?.last);
  if (fromDay > toDay) throw invalid('to', `to (${toDay}) is before from (${fromDay})`);
  const maxDays = opts.maxDays ?? MAX_REPORT_DAYS;
  if (daysInclusive(fromDay, toDay) > maxDays) throw invalid('to', `the range from ${fromDay} to ${toDay} is longer than ${maxDays} days`);

  const format = single(params, 'format') ?? 'json';
  if (format !== 'json' && format !== 'csv') throw invalid('format', `format must be json or csv, got '${format}'`);

  let tenantId = optionalFilter(params, 'tenant');
  if (opts.scopeTenantId !== undefined) {
    if (tenantId !== undefined && tenantId !== opts.scopeTenantId) {
      throw new GatewayError('FORBIDDEN', 'a tenant key reads only its own usage', { param: 'tenant' });
    }
    tenantId = opts.scopeTenantId;
  }
  const projectId = optionalFilter(params, 'project');
  const model = optionalFilter(params, 'model');
  const keyId = optionalFilter(params, 'key');
  const user = optionalFilter(params, 'user');

  const query: UsageQuery = {
    fromDay,
    toDay,
    groupBy: groupBy(single(params, 'groupBy')),
    ...(tenantId !== undefined ? { tenantId } : {}),
    ...(projectId !== undefined ? { projectId } : {}),
    ...(model !== undefined ? { model } : {}),
    ...(keyId !== undefined ? { keyId } : {}),
    ...(user !== undefined ? { user } : {}),
  };
  return { query, format };
}

export interface UsageSums extends UsageCounts {
  /** Six decimals, rounded half-up from the exact nano-USD sum. */
  costUsd: string;
}

export type UsageJsonRow = Partial<Record<GroupBy, string>> & UsageSums;

export interface UsageJson {
  from: string;
  to: string;
  groupBy: GroupBy[];
  rows: UsageJsonRow[];
  totals: UsageSums;
}

function sums(r: Omit<UsageRow, GroupBy>): UsageSums {
  return {
    requests: r.requests,
    images: r.images,
    inputTokens: r.inputTokens,
    outputImageTokens: r.outputImageTokens,
    outputTextTokens: r.outputTextTokens,
    thinkingTokens: r.thinkingTokens,
    costUsd: formatUsd(r.costNanoUsd),
  };
}

/** Column sums over the rows; cost stays in nano-USD so rounding happens once, on the total. */
function totalOf(rows: readonly UsageRow[]): Omit<UsageRow, GroupBy> {
  const t = { requests: 0, images: 0, inputTokens: 0, outputImageTokens: 0, outputTextTokens: 0, thinkingTokens: 0, costNanoUsd: 0n };
  for (const r of rows) {
    t.requests += r.requests;
    t.images += r.images;
    t.inputTokens += r.inputTokens;
    t.outputImageTokens += r.outputImageTokens;
    t.outputTextTokens += r.outputTextTokens;
    t.thinkingTokens += r.thinkingTokens;
    t.costNanoUsd += r.costNanoUsd;
  }
  return t;
}

export function renderUsageJson(q: UsageQuery, rows: readonly UsageRow[]): UsageJson {
  return {
    from: q.fromDay,
    to: q.toDay,
    groupBy: [...q.groupBy],
    rows: rows.map((r) => {
      const keys: Partial<Record<GroupBy, string>> = {};
      for (const g of q.groupBy) keys[g] = r[g] ?? '';
      return { ...keys, ...sums(r) };
    }),
    totals: sums(totalOf(rows)),
  };
}

// Cells a spreadsheet would run as a formula (OWASP "CSV injection"); tenant and model names
// are operator-chosen, but a report is often opened by someone else.
const FORMULA_START = /^[=+\-@\t\r]/;

function csvText(value: string): string {
  const s = FORMULA_START.test(value) ? `'${value}` : value;
  // RFC 4180: quote a field holding a comma, quote or line break; double the quotes inside.
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const CSV_SUM_COLUMNS = [
  'requests',
  'images',
  'input_tokens',
  'output_image_tokens',
  'output_text_tokens',
  'thinking_tokens',
  'cost_usd',
] as const;

/**
 * RFC 4180 CSV: a header row, one line per row, CRLF line ends. No totals line, so the file
 * stays a plain table that sums correctly in a spreadsheet.
 */
export function renderUsageCsv(q: UsageQuery, rows: readonly UsageRow[]): string {
  const lines = [[...q.groupBy, ...CSV_SUM_COLUMNS].join(',')];
  for (const r of rows) {
    const s = sums(r);
    lines.push(
      [
        ...q.groupBy.map((g) => csvText(r[g] ?? '')),
        s.requests,
        s.images,
        s.inputTokens,
        s.outputImageTokens,
        s.outputTextTokens,
        s.thinkingTokens,
        s.costUsd,
      ].join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** A file name for Content-Disposition: `usage_2025-01-01_2025-01-31.csv`. */
export function usageCsvFilename(q: UsageQuery): string {
  return `usage_${q.fromDay}_${q.toDay}.csv`;
}
