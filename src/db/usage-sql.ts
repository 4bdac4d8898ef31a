/**
 * The usage table's columns and the report query, shared by both engines so SQLite and
 * PostgreSQL group, filter and sort the same way (one contract suite checks both).
 */
import type { UsageRecord } from '../usage/record.js';
import { GROUP_BY_KEYS, type GroupBy, type UsageQuery, type UsageRow } from './database.js';

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
  // `day` is already the Pacific day, so its first 7 characters are the Pacific month.
  month: 'substr(day, 1, 7)',
};

export interface Dialect {
  placeholder(index: number): string;
  /** Byte-order collation, so both engines sort group keys identically whatever the locale. */
  collate: string;
}

export const SQLITE_DIALECT: Dialect = { placeholder: () => '?', collate: 'BINARY' };
export const POSTGRES_DIALECT: Dialect = { placeholder: (i) => `$${i}`, collate: '"C"' };

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
