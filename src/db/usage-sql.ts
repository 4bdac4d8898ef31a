/**
 * The usage table's columns and the report query, shared by both engines so SQLite and
 * PostgreSQL group, filter and sort the same way (one contract suite checks both).
 */
import type { UsageFlag, UsageRecord } from '../usage/record.js';
import { GROUP_BY_KEYS, type GroupBy, type RecentUsageQuery, type UsageQuery, type UsageRow } from './database.js';

export const USAGE_COLUMNS = [
  'id',
  'time_ms',
  'day',
  'request_id',
  'tenant_id',
  'key_id',
  'project_id',
  'route',
  'model_asked',
  'model',
  'image_size',
  'images_returned',
  'input_tokens',
  'input_text_tokens',
  'input_image_tokens',
  'output_image_tokens',
  'output_text_tokens',
  'thinking_tokens',
  'cost_nano_usd',
  'http_status',
  'finish_reason',
  'latency_ms',
  'user_label',
  'batch',
  'flags',
  'usage_metadata',
  'price_version',
] as const;

export type UsageColumnValue = string | number | boolean | null;

// The ledger retries a failed batch until it is written, so one malformed number (a fractional
// latency, a NaN) would jam it for good on PostgreSQL's integer columns. Integers are normalised
// here instead; the meter produces integers, so this changes nothing in normal operation.
const int = (n: number): number => (Number.isFinite(n) ? Math.round(n) : 0);
// PostgreSQL refuses NUL in text and JSONB, and `user` comes straight from the client.
const text = (s: string): string => (s.includes('\0') ? s.replaceAll('\0', '') : s);
const optText = (s: string | null): string | null => (s === null ? null : text(s));
const withoutNul = (_k: string, x: unknown): unknown => (typeof x === 'string' ? text(x) : x);
/** JSON.stringify writes a NUL as the escape \u0000, which JSONB refuses; only then is the slower replacer pass needed. */
const jsonText = (v: unknown): string | null => {
  if (v === undefined || v === null) return null;
  const json = JSON.stringify(v);
  return json.includes('\\u0000') ? JSON.stringify(v, withoutNul) : json;
};

/** A record's values in USAGE_COLUMNS order. */
export function usageValues(r: UsageRecord): UsageColumnValue[] {
  return [
    text(r.id),
    int(r.timeMs),
    text(r.day),
    text(r.requestId),
    text(r.tenantId),
    text(r.keyId),
    text(r.projectId),
    text(r.route),
    text(r.modelAsked),
    text(r.model),
    optText(r.imageSize),
    int(r.imagesReturned),
    int(r.inputTokens),
    int(r.inputTextTokens),
    int(r.inputImageTokens),
    int(r.outputImageTokens),
    int(r.outputTextTokens),
    int(r.thinkingTokens),
    int(r.costNanoUsd),
    int(r.httpStatus),
    optText(r.finishReason),
    int(r.latencyMs),
    optText(r.user),
    r.batch,
    r.flags.join(','),
    jsonText(r.usageMetadata),
    text(r.priceVersion),
  ];
}

const GROUP_EXPRESSIONS: Record<GroupBy, string> = {
  tenant: 'tenant_id',
  model: 'model',
  modelAsked: 'model_asked',
  day: 'day',
  project: 'project_id',
  key: 'key_id',
  // A call without a user is its own group, named '' (NULL would not survive every driver alike).
  user: "COALESCE(user_label, '')",
  // `day` is already the Pacific day, so its first 7 characters are the Pacific month.
  month: 'substr(day, 1, 7)',
  // SQLite keeps the flag as 0/1 and PostgreSQL as a boolean: both take it as a condition.
  batch: "CASE WHEN batch THEN 'batch' ELSE 'standard' END",
};

export interface Dialect {
  placeholder(index: number): string;
  /** Byte-order collation, so both engines sort group keys identically whatever the locale. */
  collate: string;
  /** 1-based position of `needle` in `haystack`, 0 when absent (SQL expressions). */
  position(haystack: string, needle: string): string;
}

export const SQLITE_DIALECT: Dialect = { placeholder: () => '?', collate: 'BINARY', position: (h, n) => `instr(${h}, ${n})` };
export const POSTGRES_DIALECT: Dialect = { placeholder: (i) => `$${i}`, collate: '"C"', position: (h, n) => `strpos(${h}, ${n})` };

export function buildUsageQuery(q: UsageQuery, d: Dialect): { sql: string; params: string[] } {
  for (const g of q.groupBy) if (!GROUP_BY_KEYS.includes(g)) throw new Error(`unknown groupBy key ${String(g)}`);
  const params: string[] = [q.fromDay, q.toDay];
  const where = [`day >= ${d.placeholder(1)}`, `day <= ${d.placeholder(2)}`];
  const filter = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    params.push(value);
    where.push(`${column} = ${d.placeholder(params.length)}`);
  };
  filter('tenant_id', q.tenantId);
  filter('project_id', q.projectId);
  filter('model', q.model);
  filter('key_id', q.keyId);
  filter('user_label', q.user);

  const groups = q.groupBy.map((g) => ({ key: g, expr: GROUP_EXPRESSIONS[g] }));
  const select = [
    ...groups.map((g) => `${g.expr} AS g_${g.key}`),
    'COUNT(*) AS requests',
    'SUM(images_returned) AS images',
    'SUM(input_tokens) AS input_tokens',
    'SUM(output_image_tokens) AS output_image_tokens',
    'SUM(output_text_tokens) AS output_text_tokens',
    'SUM(thinking_tokens) AS thinking_tokens',
    'SUM(cost_nano_usd) AS cost_nano_usd',
  ];
  let sql = `SELECT ${select.join(', ')} FROM usage_records WHERE ${where.join(' AND ')}`;
  if (groups.length > 0) {
    sql += ` GROUP BY ${groups.map((g) => g.expr).join(', ')}`;
    sql += ` ORDER BY ${groups.map((g) => `${g.expr} COLLATE ${d.collate}`).join(', ')}`;
  }
  return { sql, params };
}

/**
 * The newest records matching the filters. Ordered by time then id, so the index on time_ms
 * serves it walking backwards and stops after `limit` matches.
 */
export function buildRecentUsageQuery(q: RecentUsageQuery, d: Dialect): { sql: string; params: Array<string | number> } {
  const params: Array<string | number> = [];
  const where: string[] = [];
  const add = (value: string | number) => {
    params.push(value);
    return d.placeholder(params.length);
  };
  if (q.tenantId !== undefined) where.push(`tenant_id = ${add(q.tenantId)}`);
  if (q.model !== undefined) where.push(`model = ${add(q.model)}`);
  if (q.httpStatus !== undefined) where.push(`http_status >= ${add(q.httpStatus.from)} AND http_status <= ${add(q.httpStatus.to)}`);
  // flags is a comma list of words: fenced with commas, a flag matches whole, never as part of another.
  if (q.flag !== undefined) where.push(`${d.position(`(',' || flags || ',')`, add(`,${q.flag},`))} > 0`);
  const sql =
    `SELECT ${USAGE_COLUMNS.join(', ')} FROM usage_records` +
    (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY time_ms DESC, id COLLATE ${d.collate} DESC LIMIT ${add(Math.max(0, Math.floor(q.limit)))}`;
  return { sql, params };
}

export type Cell = string | number | bigint | boolean | null | undefined | object;

export function toNumber(v: Cell): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' || typeof v === 'string') return Number(v);
  throw new TypeError('expected a number from the database');
}

export function toBigInt(v: Cell): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' || typeof v === 'string') return BigInt(v);
  throw new TypeError('expected an integer from the database');
}

const optionalText = (v: Cell): string | null => (v === null || v === undefined ? null : String(v));

/** One stored record as the meter wrote it; SQLite gives JSON as text and booleans as 0/1, PostgreSQL parsed. */
export function usageRecordFrom(row: Record<string, Cell>): UsageRecord {
  const flags = String(row.flags ?? '');
  const metadata = row.usage_metadata;
  return {
    id: String(row.id),
    timeMs: toNumber(row.time_ms),
    day: String(row.day),
    requestId: String(row.request_id),
    tenantId: String(row.tenant_id),
    keyId: String(row.key_id),
    projectId: String(row.project_id),
    route: String(row.route),
    modelAsked: String(row.model_asked),
    model: String(row.model),
    imageSize: optionalText(row.image_size),
    imagesReturned: toNumber(row.images_returned),
    inputTokens: toNumber(row.input_tokens),
    inputTextTokens: toNumber(row.input_text_tokens),
    inputImageTokens: toNumber(row.input_image_tokens),
    outputImageTokens: toNumber(row.output_image_tokens),
    outputTextTokens: toNumber(row.output_text_tokens),
    thinkingTokens: toNumber(row.thinking_tokens),
    costNanoUsd: toNumber(row.cost_nano_usd),
    httpStatus: toNumber(row.http_status),
    finishReason: optionalText(row.finish_reason),
    latencyMs: toNumber(row.latency_ms),
    user: optionalText(row.user_label),
    batch: row.batch === true || row.batch === 1 || row.batch === 1n,
    flags: flags === '' ? [] : (flags.split(',') as UsageFlag[]),
    usageMetadata: typeof metadata === 'string' ? (JSON.parse(metadata) as unknown) : (metadata ?? null),
    priceVersion: String(row.price_version),
  };
}

/** Maps one result row of buildUsageQuery, whose integers may come back as number, bigint or string. */
export function usageRowFrom(row: Record<string, Cell>, groupBy: readonly GroupBy[]): UsageRow {
  const out: UsageRow = {
    requests: toNumber(row.requests),
    images: toNumber(row.images),
    inputTokens: toNumber(row.input_tokens),
    outputImageTokens: toNumber(row.output_image_tokens),
    outputTextTokens: toNumber(row.output_text_tokens),
    thinkingTokens: toNumber(row.thinking_tokens),
    costNanoUsd: toBigInt(row.cost_nano_usd),
  };
  for (const g of groupBy) out[g] = String(row[`g_${g}`]);
  return out;
}
