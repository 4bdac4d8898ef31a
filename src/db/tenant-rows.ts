/** Row mapping for the tenants and api_keys tables, shared by both engines. */
import type { StoredKey, StoredTenant, TenantBudget, TenantLimits } from './database.js';
import { toNumber, type Cell } from './usage-sql.js';

// SQLite hands back JSON as text, PostgreSQL's JSONB as a parsed object.
function jsonObject(v: Cell): Record<string, number> {
  const parsed: unknown = typeof v === 'string' ? JSON.parse(v) : v;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(parsed)) if (typeof n === 'number') out[k] = n;
  return out;
}

const nullableNumber = (v: Cell): number | null => (v === null || v === undefined ? null : toNumber(v));

export function tenantFrom(row: Record<string, Cell>): StoredTenant {
  return {
    id: String(row.id),
    project: String(row.project),
    ...(row.pool !== null && row.pool !== undefined ? { pool: String(row.pool) } : {}),
    limits: jsonObject(row.limits) as TenantLimits,
    budget: jsonObject(row.budget) as TenantBudget,
    disabled: row.disabled === true || row.disabled === 1 || row.disabled === 1n,
    createdAtMs: toNumber(row.created_at_ms),
    updatedAtMs: toNumber(row.updated_at_ms),
  };
}

export function keyFrom(row: Record<string, Cell>): StoredKey {
  return {
    keyId: String(row.key_id),
    tenantId: String(row.tenant_id),
    hash: String(row.hash),
    name: row.name === null || row.name === undefined ? null : String(row.name),
    limits: jsonObject(row.limits) as TenantLimits,
    budget: jsonObject(row.budget) as TenantBudget,
    expiresAtMs: nullableNumber(row.expires_at_ms),
    createdAtMs: toNumber(row.created_at_ms),
    updatedAtMs: toNumber(row.updated_at_ms ?? row.created_at_ms),
    revokedAtMs: nullableNumber(row.revoked_at_ms),
  };
}

/** Only the known fields, so a stray property in an admin request body is not persisted. */
export function limitsJson(l: TenantLimits): string {
  const { rpm, tpm, rpd, ipm } = l;
  return JSON.stringify({ rpm, tpm, rpd, ipm });
}

export function budgetJson(b: TenantBudget): string {
  const { dailyUsd, monthlyUsd } = b;
  return JSON.stringify({ dailyUsd, monthlyUsd });
}
