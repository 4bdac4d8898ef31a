import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { UsageFlag, UsageRecord } from '../usage/record.js';

export { DatabaseUnavailableError, DuplicateError, NotFoundError } from './errors.js';
import { GuardedDatabase } from './guarded-database.js';
import type { BatchStore } from './batch-store.js';

export interface TenantLimits {
  rpm?: number;
  tpm?: number;
  rpd?: number;
  ipm?: number;
}

export interface TenantBudget {
  dailyUsd?: number;
  monthlyUsd?: number;
}

export interface StoredTenant {
  id: string;
  /** Its project; for a pool's tenant, the pool's first project when it was set. */
  project: string;
  /** The config pool it is admitted over (#17), when it names one. */
  pool?: string;
  limits: TenantLimits;
  budget: TenantBudget;
  disabled: boolean;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface StoredKey {
  keyId: string;
  tenantId: string;
  /** 'sha256:<hex>' */
  hash: string;
  /** The key's label (the admin API's `label`, formerly `name`). */
  name: string | null;
  /** The key's own limits and budget (#13.3), within its tenant's; empty: only the tenant's apply. */
  limits: TenantLimits;
  budget: TenantBudget;
  /** From this instant on the key is refused with 401 saying it expired; null: never. */
  expiresAtMs: number | null;
  createdAtMs: number;
  /** Creation, and every change of its settings (changesSince reads it). */
  updatedAtMs: number;
  revokedAtMs: number | null;
}

/** What createKey takes: settings left out are empty (no limits, no budget, no expiry). */
export type NewKey = Omit<StoredKey, 'revokedAtMs' | 'updatedAtMs' | 'limits' | 'budget' | 'expiresAtMs'> &
  Partial<Pick<StoredKey, 'limits' | 'budget' | 'expiresAtMs'>>;

/** A key's settings as PATCH changes them: `limits` and `budget` are replaced whole; `expiresAtMs: null` clears the expiry. */
export type KeyPatch = Partial<Pick<StoredKey, 'name' | 'limits' | 'budget' | 'expiresAtMs'>>;

/** `modelAsked`: the name the client used (a retired id, an alias), beside `model`, the model that served it. */
/** `batch` (#16) splits spend into 'batch' (Google's Batch API, at Batch prices) and 'standard'. */
export type GroupBy = 'tenant' | 'model' | 'modelAsked' | 'day' | 'project' | 'key' | 'user' | 'month' | 'batch';

export const GROUP_BY_KEYS: readonly GroupBy[] = ['tenant', 'model', 'modelAsked', 'day', 'project', 'key', 'user', 'month', 'batch'];

export interface UsageQuery {
  /** Inclusive Pacific days, YYYY-MM-DD. */
  fromDay: string;
  toDay: string;
  tenantId?: string;
  projectId?: string;
  model?: string;
  /** The key id the calls came with. */
  keyId?: string;
  /** The `user` a client sent (OpenAI face). */
  user?: string;
  groupBy: GroupBy[];
}

/** The counts a usage report sums per group; money is kept apart (exact nano-USD here, USD text in reports). */
export interface UsageCounts {
  requests: number;
  images: number;
  inputTokens: number;
  outputImageTokens: number;
  outputTextTokens: number;
  thinkingTokens: number;
}

export interface UsageRow extends UsageCounts {
  tenant?: string;
  model?: string;
  modelAsked?: string;
  day?: string;
  project?: string;
  key?: string;
  /** '' for calls that named no user. */
  user?: string;
  month?: string;
  /** 'batch' or 'standard'. */
  batch?: string;
  costNanoUsd: bigint;
}

/** The newest usage records (the admin console's recent calls, #18), filtered. */
export interface RecentUsageQuery {
  /** At most this many records. */
  limit: number;
  tenantId?: string;
  /** The model that served (canonical id). */
  model?: string;
  /** Inclusive range of the record's httpStatus: 200-299, 429-429, 500-599. */
  httpStatus?: { from: number; to: number };
  /** Records carrying this flag. */
  flag?: UsageFlag;
}

export interface TenantChanges {
  tenants: StoredTenant[];
  deletedTenantIds: string[];
  keys: StoredKey[];
}

/** The migrations one migrate() call applied (empty: the schema was current), for the start log. */
export type AppliedMigrations = ReadonlyArray<{ version: number; name: string }>;

/** Usage, tenants and keys; and Google batches and files with their owners (#16, BatchStore). */
export interface Database extends BatchStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Versioned migrations, applied at start; idempotent; on PostgreSQL serialised by an advisory lock. */
  migrate(): Promise<AppliedMigrations>;
  /** One transaction; idempotent on record id, so a retried batch never duplicates. */
  insertUsage(records: readonly UsageRecord[]): Promise<void>;
  /** Rows sorted by the group keys in `groupBy` order; costs summed exactly. */
  queryUsage(q: UsageQuery): Promise<UsageRow[]>;
  /** Newest first (by time, then id), at most `limit`, matching every filter given. */
  recentUsage(q: RecentUsageQuery): Promise<UsageRecord[]>;
  /** The records whose record id or request id is `id` (a request with n=4 has four), oldest first. */
  usageByRequest(id: string): Promise<UsageRecord[]>;
  /**
   * Sum of costNanoUsd for a tenant (or one of its keys, with `keyId`) with fromMs <= timeMs <
   * toMs: rebuilds budget spend counters when the store lost them.
   */
  spendNanoUsd(tenantId: string, fromMs: number, toMs: number, keyId?: string): Promise<bigint>;
  /** Throws DuplicateError when a live tenant has this id (a deleted one's id may be reused). */
  createTenant(t: Omit<StoredTenant, 'createdAtMs' | 'updatedAtMs'>, nowMs: number): Promise<StoredTenant>;
  /** Undefined for unknown and deleted tenants. */
  getTenant(id: string): Promise<StoredTenant | undefined>;
  /** Live tenants (disabled ones included), sorted by id. */
  listTenants(): Promise<StoredTenant[]>;
  /** `limits` and `budget` are replaced whole, not merged. Undefined for unknown and deleted tenants. */
  updateTenant(
    id: string,
    patch: Partial<Pick<StoredTenant, 'project' | 'limits' | 'budget' | 'disabled'>> & { pool?: string | null },
    nowMs: number,
  ): Promise<StoredTenant | undefined>;
  /**
   * Tombstones the tenant and revokes its keys at `nowMs`, so `changesSince` reports both.
   * False when there was no live tenant with this id.
   */
  deleteTenant(id: string, nowMs: number): Promise<boolean>;
  /** Throws NotFoundError for an unknown or deleted tenant, DuplicateError for a taken key id or hash. */
  createKey(k: NewKey): Promise<StoredKey>;
  /** Changes an unrevoked key's settings at `nowMs`. Undefined when there is no such key under this tenant, or it is revoked. */
  updateKey(tenantId: string, keyId: string, patch: KeyPatch, nowMs: number): Promise<StoredKey | undefined>;
  /** False when the key does not exist under this tenant or was already revoked. */
  revokeKey(tenantId: string, keyId: string, nowMs: number): Promise<boolean>;
  /** Every key of the tenant, revoked ones included, oldest first. */
  listKeys(tenantId: string): Promise<StoredKey[]>;
  /**
   * Every live tenant and every key changed at or after `sinceMs` (updatedAt / createdAt /
   * revokedAt; a key's settings changes included), revoked keys included so instances can drop them, and the tenants deleted since;
   * for the periodic refresh of each instance's auth cache. sinceMs=0 gives all.
   */
  changesSince(sinceMs: number): Promise<TenantChanges>;
  ping(): Promise<void>;
  /** The highest migration applied; 0 when the schema is missing (a database recreated empty). */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** postgres://…: PostgreSQL, shared by every instance. Unset: embedded SQLite at `sqlitePath`. */
  url?: string;
  sqlitePath: string;
  /** Where PostgreSQL pool errors (a dropped idle connection) are reported. */
  logger?: Logger;
}

/** The database the gateway uses: guarded, so an outage is a 503 and a lost schema is re-made (see GuardedDatabase). */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  return new GuardedDatabase(await openRawDatabase(opts), opts.logger);
}

async function openRawDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  if (opts.url) {
    const { PostgresDatabase } = await import('./postgres.js');
    return new PostgresDatabase({ url: opts.url, ...(opts.logger ? { logger: opts.logger } : {}) });
  }
  // Imported on demand: loading node:sqlite prints an ExperimentalWarning on Node 22, which a
  // PostgreSQL deployment has no reason to see.
  const { SqliteDatabase } = await import('./sqlite.js');
  if (opts.sqlitePath !== ':memory:') await mkdir(dirname(opts.sqlitePath), { recursive: true });
  return new SqliteDatabase(opts.sqlitePath);
}
