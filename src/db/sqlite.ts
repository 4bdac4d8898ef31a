/**
 * Embedded SQLite (contract §9: a file that survives restarts; one instance). Follows undici's
 * SQLite cache store: built-in node:sqlite, WAL, statements prepared once and kept in #private
 * fields, a versioned schema. node:sqlite is synchronous: reads and tenant writes are rare and
 * short and run inline; usage rows, written on every call, go through a worker thread
 * (sqlite-writer.ts) so their batches never hold the event loop.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { UsageRecord } from '../usage/record.js';
import type { AppliedMigrations, Database, KeyPatch, NewKey, RecentUsageQuery, StoredKey, StoredTenant, TenantChanges, UsageQuery, UsageRow } from './database.js';
import { DuplicateError, NotFoundError } from './errors.js';
import { SqliteUsageWriter } from './sqlite-writer.js';
import { delegateBatchStore, type BatchStore } from './batch-store.js';
import { SqliteBatchStore } from './sqlite-batches.js';
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from './migrations/index.js';
import { budgetJson, keyFrom, limitsJson, tenantFrom } from './tenant-rows.js';
import { buildRecentUsageQuery, buildUsageQuery, SQLITE_DIALECT, toBigInt, USAGE_COLUMNS, usageRecordFrom, usageRowFrom, usageValues } from './usage-sql.js';

const BUSY_TIMEOUT_MS = 5_000;
const INSERT_USAGE_SQL = `INSERT OR IGNORE INTO usage_records (${USAGE_COLUMNS.join(', ')}) VALUES (${USAGE_COLUMNS.map(() => '?').join(', ')})`;

const bindUsage = (r: UsageRecord): SQLInputValue[] =>
  usageValues(r).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));

const LIVE_TENANT_COLUMNS = 'id, project, pool, limits, budget, disabled, created_at_ms, updated_at_ms';
const KEY_COLUMNS = 'key_id, tenant_id, hash, name, limits, budget, expires_at_ms, created_at_ms, updated_at_ms, revoked_at_ms';

// The BatchStore methods (#16) are put on each instance by delegateBatchStore (see there why).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface SqliteDatabase extends BatchStore {}

export class SqliteDatabase implements Database {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;
  // Prepared on first use rather than in the constructor: the tables exist only after migrate().
  readonly #writer: SqliteUsageWriter | undefined;
  #insertUsage: StatementSync | undefined;
  #spend: StatementSync | undefined;
  #keySpend: StatementSync | undefined;
  #updateKey: StatementSync | undefined;
  #insertTenant: StatementSync | undefined;
  #getTenant: StatementSync | undefined;
  #listTenants: StatementSync | undefined;
  #updateTenant: StatementSync | undefined;
  #tombstoneTenant: StatementSync | undefined;
  #revokeTenantKeys: StatementSync | undefined;
  #insertKey: StatementSync | undefined;
  #revokeKey: StatementSync | undefined;
  #listKeys: StatementSync | undefined;
  #changedTenants: StatementSync | undefined;
  #deletedTenants: StatementSync | undefined;
  #changedKeys: StatementSync | undefined;
  #liveTenantStmt: StatementSync | undefined;
  #pingStmt: StatementSync | undefined;
  #usageByRequest: StatementSync | undefined;
  /** Report statements by SQL text: the groupBy/filter combinations are few and repeat. */
  readonly #reportStatements = new Map<string, StatementSync>();

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    // A file gets its usage rows written by a worker thread; an in-memory database cannot be
    // shared with one, and writes inline.
    if (path !== ':memory:') this.#writer = new SqliteUsageWriter({ path, insertSql: INSERT_USAGE_SQL, busyTimeoutMs: BUSY_TIMEOUT_MS });
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};
      PRAGMA foreign_keys = ON;
    `);
    delegateBatchStore(this, new SqliteBatchStore(this.#db, (fn) => this.#transaction(fn)));
  }

  async migrate(): Promise<AppliedMigrations> {
    const done: Array<{ version: number; name: string }> = [];
    // IMMEDIATE takes the write lock up front, so two processes starting on one file apply each
    // migration once (the second waits up to busy_timeout, then sees the versions applied).
    this.#transaction(() => {
      this.#db.exec(MIGRATIONS_TABLE_SQL);
      const applied = new Set(
        this.#db
          .prepare('SELECT version FROM schema_migrations')
          .all()
          .map((r) => Number(r.version)),
      );
      const record = this.#db.prepare('INSERT INTO schema_migrations (version, name) VALUES (?, ?)');
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        this.#db.exec(m.sqlite);
        record.run(m.version, m.name);
        done.push({ version: m.version, name: m.name });
      }
    });
    return done;
  }

  async insertUsage(records: readonly UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (this.#writer) return this.#writer.insert(records.map(bindUsage));
    const insert = (this.#insertUsage ??= this.#db.prepare(INSERT_USAGE_SQL));
    this.#transaction(() => {
      for (const r of records) insert.run(...bindUsage(r));
    });
  }

  async queryUsage(q: UsageQuery): Promise<UsageRow[]> {
    const { sql, params } = buildUsageQuery(q, SQLITE_DIALECT);
    let stmt = this.#reportStatements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      // SUM over BIGINT nano-USD passes 2^53 quickly; read integers exactly.
      stmt.setReadBigInts(true);
      this.#reportStatements.set(sql, stmt);
    }
    const rows = stmt.all(...params);
    // Without GROUP BY an aggregate returns one all-NULL row even when nothing matched.
    if (q.groupBy.length === 0 && rows.length === 1 && toBigInt(rows[0]?.requests) === 0n) return [];
    return rows.map((r) => usageRowFrom(r, q.groupBy));
  }

  async recentUsage(q: RecentUsageQuery): Promise<UsageRecord[]> {
    const { sql, params } = buildRecentUsageQuery(q, SQLITE_DIALECT);
    // The filter combinations are few and repeat, like the reports'.
    let stmt = this.#reportStatements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      this.#reportStatements.set(sql, stmt);
    }
    return stmt.all(...params).map(usageRecordFrom);
  }

  async usageByRequest(id: string): Promise<UsageRecord[]> {
    const stmt = (this.#usageByRequest ??= this.#db.prepare(
      `SELECT ${USAGE_COLUMNS.join(', ')} FROM usage_records WHERE id = ? UNION SELECT ${USAGE_COLUMNS.join(', ')} FROM usage_records WHERE request_id = ? ORDER BY time_ms, id`,
    ));
    return stmt.all(id, id).map(usageRecordFrom);
  }

  async spendNanoUsd(tenantId: string, fromMs: number, toMs: number, keyId?: string): Promise<bigint> {
    if (keyId !== undefined) {
      const stmt = (this.#keySpend ??= this.#prepareBigInt(
        'SELECT COALESCE(SUM(cost_nano_usd), 0) AS spend FROM usage_records WHERE tenant_id = ? AND time_ms >= ? AND time_ms < ? AND key_id = ?',
      ));
      return toBigInt(stmt.get(tenantId, fromMs, toMs, keyId)?.spend);
    }
    const stmt = (this.#spend ??= this.#prepareBigInt(
      'SELECT COALESCE(SUM(cost_nano_usd), 0) AS spend FROM usage_records WHERE tenant_id = ? AND time_ms >= ? AND time_ms < ?',
    ));
    return toBigInt(stmt.get(tenantId, fromMs, toMs)?.spend);
  }

  async createTenant(t: Omit<StoredTenant, 'createdAtMs' | 'updatedAtMs'>, nowMs: number): Promise<StoredTenant> {
    // A tombstoned id is taken over by the new tenant; a live one is a duplicate.
    const stmt = (this.#insertTenant ??= this.#db.prepare(
      `INSERT INTO tenants (id, project, pool, limits, budget, disabled, created_at_ms, updated_at_ms, deleted_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT (id) DO UPDATE SET project = excluded.project, pool = excluded.pool, limits = excluded.limits, budget = excluded.budget,
         disabled = excluded.disabled, created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms,
         deleted_at_ms = NULL
       WHERE tenants.deleted_at_ms IS NOT NULL
       RETURNING ${LIVE_TENANT_COLUMNS}`,
    ));
    const row = stmt.get(t.id, t.project, t.pool ?? null, limitsJson(t.limits), budgetJson(t.budget), t.disabled ? 1 : 0, nowMs, nowMs);
    if (!row) throw new DuplicateError('tenant', t.id);
    return tenantFrom(row);
  }

  async getTenant(id: string): Promise<StoredTenant | undefined> {
    const stmt = (this.#getTenant ??= this.#db.prepare(
      `SELECT ${LIVE_TENANT_COLUMNS} FROM tenants WHERE id = ? AND deleted_at_ms IS NULL`,
    ));
    const row = stmt.get(id);
    return row ? tenantFrom(row) : undefined;
  }

  async listTenants(): Promise<StoredTenant[]> {
    const stmt = (this.#listTenants ??= this.#db.prepare(
      `SELECT ${LIVE_TENANT_COLUMNS} FROM tenants WHERE deleted_at_ms IS NULL ORDER BY id`,
    ));
    return stmt.all().map(tenantFrom);
  }

  async updateTenant(
    id: string,
    patch: Partial<Pick<StoredTenant, 'project' | 'limits' | 'budget' | 'disabled'>> & { pool?: string | null },
    nowMs: number,
  ): Promise<StoredTenant | undefined> {
    const stmt = (this.#updateTenant ??= this.#db.prepare(
      `UPDATE tenants SET project = COALESCE(?, project), pool = CASE WHEN ? = 1 THEN ? ELSE pool END,
         limits = COALESCE(?, limits), budget = COALESCE(?, budget), disabled = COALESCE(?, disabled), updated_at_ms = ?
       WHERE id = ? AND deleted_at_ms IS NULL
       RETURNING ${LIVE_TENANT_COLUMNS}`,
    ));
    const row = stmt.get(
      patch.project ?? null,
      // undefined leaves the pool alone; null clears it.
      patch.pool === undefined ? 0 : 1,
      patch.pool ?? null,
      patch.limits ? limitsJson(patch.limits) : null,
      patch.budget ? budgetJson(patch.budget) : null,
      patch.disabled === undefined ? null : patch.disabled ? 1 : 0,
      nowMs,
      id,
    );
    return row ? tenantFrom(row) : undefined;
  }

  async deleteTenant(id: string, nowMs: number): Promise<boolean> {
    const tombstone = (this.#tombstoneTenant ??= this.#db.prepare(
      'UPDATE tenants SET deleted_at_ms = ?, updated_at_ms = ? WHERE id = ? AND deleted_at_ms IS NULL',
    ));
    const revoke = (this.#revokeTenantKeys ??= this.#db.prepare(
      'UPDATE api_keys SET revoked_at_ms = ? WHERE tenant_id = ? AND revoked_at_ms IS NULL',
    ));
    return this.#transaction(() => {
      if (Number(tombstone.run(nowMs, nowMs, id).changes) === 0) return false;
      revoke.run(nowMs, id);
      return true;
    });
  }

  async createKey(k: NewKey): Promise<StoredKey> {
    const stmt = (this.#insertKey ??= this.#db.prepare(
      `INSERT INTO api_keys (key_id, tenant_id, hash, name, limits, budget, expires_at_ms, created_at_ms, updated_at_ms, revoked_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT DO NOTHING RETURNING ${KEY_COLUMNS}`,
    ));
    return this.#transaction(() => {
      if (!this.#liveTenant(k.tenantId)) throw new NotFoundError('tenant', k.tenantId);
      const row = stmt.get(k.keyId, k.tenantId, k.hash, k.name, limitsJson(k.limits ?? {}), budgetJson(k.budget ?? {}), k.expiresAtMs ?? null, k.createdAtMs, k.createdAtMs);
      if (!row) throw new DuplicateError('key', k.keyId);
      return keyFrom(row);
    });
  }

  async updateKey(tenantId: string, keyId: string, patch: KeyPatch, nowMs: number): Promise<StoredKey | undefined> {
    // A field left out keeps its value; expiresAtMs: null clears the expiry (hence the flag).
    const stmt = (this.#updateKey ??= this.#db.prepare(
      `UPDATE api_keys SET name = CASE WHEN ? THEN ? ELSE name END, limits = COALESCE(?, limits), budget = COALESCE(?, budget),
         expires_at_ms = CASE WHEN ? THEN ? ELSE expires_at_ms END, updated_at_ms = ?
       WHERE tenant_id = ? AND key_id = ? AND revoked_at_ms IS NULL
       RETURNING ${KEY_COLUMNS}`,
    ));
    const row = stmt.get(
      patch.name !== undefined ? 1 : 0,
      patch.name ?? null,
      patch.limits ? limitsJson(patch.limits) : null,
      patch.budget ? budgetJson(patch.budget) : null,
      patch.expiresAtMs !== undefined ? 1 : 0,
      patch.expiresAtMs ?? null,
      nowMs,
      tenantId,
      keyId,
    );
    return row ? keyFrom(row) : undefined;
  }

  async revokeKey(tenantId: string, keyId: string, nowMs: number): Promise<boolean> {
    const stmt = (this.#revokeKey ??= this.#db.prepare(
      'UPDATE api_keys SET revoked_at_ms = ? WHERE tenant_id = ? AND key_id = ? AND revoked_at_ms IS NULL',
    ));
    return Number(stmt.run(nowMs, tenantId, keyId).changes) > 0;
  }

  async listKeys(tenantId: string): Promise<StoredKey[]> {
    const stmt = (this.#listKeys ??= this.#db.prepare(
      `SELECT ${KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? ORDER BY created_at_ms, key_id`,
    ));
    return stmt.all(tenantId).map(keyFrom);
  }

  async changesSince(sinceMs: number): Promise<TenantChanges> {
    // "At or after": a change in the same millisecond as the caller's last look must not be
    // missed; seeing one twice is harmless.
    const tenants = (this.#changedTenants ??= this.#db.prepare(
      `SELECT ${LIVE_TENANT_COLUMNS} FROM tenants WHERE deleted_at_ms IS NULL AND updated_at_ms >= ? ORDER BY id`,
    ));
    const deleted = (this.#deletedTenants ??= this.#db.prepare(
      'SELECT id FROM tenants WHERE deleted_at_ms IS NOT NULL AND deleted_at_ms >= ? ORDER BY id',
    ));
    const keys = (this.#changedKeys ??= this.#db.prepare(
      `SELECT ${KEY_COLUMNS} FROM api_keys WHERE created_at_ms >= ? OR updated_at_ms >= ? OR revoked_at_ms >= ? ORDER BY created_at_ms, key_id`,
    ));
    // One read transaction, so the three lists describe the same moment.
    return this.#transaction(() => ({
      tenants: tenants.all(sinceMs).map(tenantFrom),
      deletedTenantIds: deleted.all(sinceMs).map((r) => String(r.id)),
      keys: keys.all(sinceMs, sinceMs, sinceMs).map(keyFrom),
    }), 'DEFERRED');
  }

  async ping(): Promise<void> {
    (this.#pingStmt ??= this.#db.prepare('SELECT 1')).get();
  }

  async schemaVersion(): Promise<number> {
    const table = this.#db.prepare("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (!table) return 0;
    const row = this.#db.prepare('SELECT max(version) AS version FROM schema_migrations').get() as { version: number | null } | undefined;
    return Number(row?.version ?? 0);
  }

  async close(): Promise<void> {
    await this.#writer?.close();
    if (this.#db.isOpen) this.#db.close();
  }

  #liveTenant(id: string): boolean {
    const stmt = (this.#liveTenantStmt ??= this.#db.prepare('SELECT 1 AS live FROM tenants WHERE id = ? AND deleted_at_ms IS NULL'));
    return stmt.get(id) !== undefined;
  }

  #prepareBigInt(sql: string): StatementSync {
    const stmt = this.#db.prepare(sql);
    stmt.setReadBigInts(true);
    return stmt;
  }

  #transaction<T>(fn: () => T, mode: 'IMMEDIATE' | 'DEFERRED' = 'IMMEDIATE'): T {
    this.#db.exec(`BEGIN ${mode}`);
    try {
      const out = fn();
      this.#db.exec('COMMIT');
      return out;
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw e;
    }
  }
}
