/**
 * PostgreSQL (contract §9: many instances share the ledger, tenants and keys). A pg Pool;
 * fixed statements are named, so each connection parses and plans them once.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { UsageRecord } from '../usage/record.js';
import type { AppliedMigrations, Database, KeyPatch, NewKey, RecentUsageQuery, StoredKey, StoredTenant, TenantChanges, UsageQuery, UsageRow } from './database.js';
import { DuplicateError, NotFoundError } from './errors.js';
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from './migrations/index.js';
import { budgetJson, keyFrom, limitsJson, tenantFrom } from './tenant-rows.js';
import { delegateBatchStore, type BatchStore } from './batch-store.js';
import { PostgresBatchStore } from './postgres-batches.js';
import { buildRecentUsageQuery, buildUsageQuery, POSTGRES_DIALECT, toBigInt, USAGE_COLUMNS, usageRecordFrom, usageRowFrom, usageValues, type Cell } from './usage-sql.js';

/** pg_advisory_xact_lock key held while migrating: 'nanogate' in ASCII. */
const MIGRATION_LOCK_KEY = '7953766412416491621';

const USAGE_COLUMN_TYPES: Record<(typeof USAGE_COLUMNS)[number], string> = {
  id: 'text',
  time_ms: 'bigint',
  day: 'text',
  request_id: 'text',
  tenant_id: 'text',
  key_id: 'text',
  project_id: 'text',
  route: 'text',
  model_asked: 'text',
  model: 'text',
  image_size: 'text',
  images_returned: 'integer',
  input_tokens: 'integer',
  input_text_tokens: 'integer',
  input_image_tokens: 'integer',
  output_image_tokens: 'integer',
  output_text_tokens: 'integer',
  thinking_tokens: 'integer',
  cost_nano_usd: 'bigint',
  http_status: 'integer',
  finish_reason: 'text',
  latency_ms: 'integer',
  user_label: 'text',
  batch: 'boolean',
  flags: 'text',
  usage_metadata: 'jsonb',
  price_version: 'text',
};

// One statement per batch whatever its size: each column travels as one array parameter, so a
// batch of 1000 is 27 parameters rather than 27 000, and the plan is reused.
const INSERT_USAGE_SQL = `INSERT INTO usage_records (${USAGE_COLUMNS.join(', ')})
  SELECT * FROM unnest(${USAGE_COLUMNS.map((c, i) => `$${i + 1}::${USAGE_COLUMN_TYPES[c]}[]`).join(', ')})
  ON CONFLICT (id) DO NOTHING`;

const TENANT_COLUMNS = 'id, project, pool, limits, budget, disabled, created_at_ms, updated_at_ms';
const KEY_COLUMNS = 'key_id, tenant_id, hash, name, limits, budget, expires_at_ms, created_at_ms, updated_at_ms, revoked_at_ms';

type Row = Record<string, Cell>;

export interface PostgresDatabaseOptions {
  url: string;
  logger?: Logger;
  /** Pool size per instance. */
  maxConnections?: number;
}

// The BatchStore methods (#16) are put on each instance by delegateBatchStore (see there why).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface PostgresDatabase extends BatchStore {}

export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;

  constructor(opts: PostgresDatabaseOptions) {
    this.#pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.maxConnections ?? 10,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      // A hung statement must not hold the ledger's single in-flight write forever.
      statement_timeout: 30_000,
      application_name: 'nanogate',
    });
    // An idle client whose server went away emits here; unhandled, it would crash the process.
    // The pool drops that client and the next query opens a fresh one.
    this.#pool.on('error', (err) => opts.logger?.warn({ err: err.message }, 'postgres idle connection lost'));
    delegateBatchStore(this, new PostgresBatchStore(this.#pool, (fn) => this.#inTransaction(fn)));
  }

  async migrate(): Promise<AppliedMigrations> {
    const done: Array<{ version: number; name: string }> = [];
    await this.#inTransaction(async (c) => {
      // Instances starting together queue here; the first applies, the rest find it applied.
      await c.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
      await c.query(MIGRATIONS_TABLE_SQL);
      const applied = new Set((await c.query<Row>('SELECT version FROM schema_migrations')).rows.map((r) => Number(r.version)));
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await c.query(m.postgres);
        await c.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        done.push({ version: m.version, name: m.name });
      }
    });
    return done;
  }

  async insertUsage(records: readonly UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    const columns: (string | number | boolean | null)[][] = USAGE_COLUMNS.map(() => []);
    for (const r of records) {
      const values = usageValues(r);
      for (let i = 0; i < values.length; i++) columns[i]?.push(values[i] ?? null);
    }
    await this.#pool.query({ name: 'nanogate_insert_usage', text: INSERT_USAGE_SQL, values: columns });
  }

  async queryUsage(q: UsageQuery): Promise<UsageRow[]> {
    const { sql, params } = buildUsageQuery(q, POSTGRES_DIALECT);
    const { rows } = await this.#pool.query<Row>(sql, params);
    // Without GROUP BY an aggregate returns one all-NULL row even when nothing matched.
    if (q.groupBy.length === 0 && rows.length === 1 && toBigInt(rows[0]?.requests) === 0n) return [];
    return rows.map((r) => usageRowFrom(r, q.groupBy));
  }

  async recentUsage(q: RecentUsageQuery): Promise<UsageRecord[]> {
    const { sql, params } = buildRecentUsageQuery(q, POSTGRES_DIALECT);
    const { rows } = await this.#pool.query<Row>(sql, params);
    return rows.map(usageRecordFrom);
  }

  async usageByRequest(id: string): Promise<UsageRecord[]> {
    const { rows } = await this.#pool.query<Row>({
      name: 'nanogate_usage_by_request',
      text: `SELECT ${USAGE_COLUMNS.join(', ')} FROM usage_records WHERE id = $1 OR request_id = $1 ORDER BY time_ms, id COLLATE "C"`,
      values: [id],
    });
    return rows.map(usageRecordFrom);
  }

  async spendNanoUsd(tenantId: string, fromMs: number, toMs: number, keyId?: string): Promise<bigint> {
    const { rows } =
      keyId === undefined
        ? await this.#pool.query<Row>({
            name: 'nanogate_spend',
            text: 'SELECT COALESCE(SUM(cost_nano_usd), 0) AS spend FROM usage_records WHERE tenant_id = $1 AND time_ms >= $2 AND time_ms < $3',
            values: [tenantId, fromMs, toMs],
          })
        : await this.#pool.query<Row>({
            name: 'nanogate_key_spend',
            text: 'SELECT COALESCE(SUM(cost_nano_usd), 0) AS spend FROM usage_records WHERE tenant_id = $1 AND time_ms >= $2 AND time_ms < $3 AND key_id = $4',
            values: [tenantId, fromMs, toMs, keyId],
          });
    return toBigInt(rows[0]?.spend);
  }

  async createTenant(t: Omit<StoredTenant, 'createdAtMs' | 'updatedAtMs'>, nowMs: number): Promise<StoredTenant> {
    // A tombstoned id is taken over by the new tenant; a live one is a duplicate.
    const { rows } = await this.#pool.query<Row>(
      `INSERT INTO tenants (id, project, limits, budget, disabled, created_at_ms, updated_at_ms, deleted_at_ms, pool)
       VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $6, NULL, $7)
       ON CONFLICT (id) DO UPDATE SET project = excluded.project, pool = excluded.pool, limits = excluded.limits, budget = excluded.budget,
         disabled = excluded.disabled, created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms,
         deleted_at_ms = NULL
       WHERE tenants.deleted_at_ms IS NOT NULL
       RETURNING ${TENANT_COLUMNS}`,
      [t.id, t.project, limitsJson(t.limits), budgetJson(t.budget), t.disabled, nowMs, t.pool ?? null],
    );
    const row = rows[0];
    if (!row) throw new DuplicateError('tenant', t.id);
    return tenantFrom(row);
  }

  async getTenant(id: string): Promise<StoredTenant | undefined> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $1 AND deleted_at_ms IS NULL`,
      [id],
    );
    return rows[0] ? tenantFrom(rows[0]) : undefined;
  }

  async listTenants(): Promise<StoredTenant[]> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT ${TENANT_COLUMNS} FROM tenants WHERE deleted_at_ms IS NULL ORDER BY id COLLATE "C"`,
    );
    return rows.map(tenantFrom);
  }

  async updateTenant(
    id: string,
    patch: Partial<Pick<StoredTenant, 'project' | 'limits' | 'budget' | 'disabled'>> & { pool?: string | null },
    nowMs: number,
  ): Promise<StoredTenant | undefined> {
    const { rows } = await this.#pool.query<Row>(
      `UPDATE tenants SET project = COALESCE($2::text, project), limits = COALESCE($3::jsonb, limits),
         budget = COALESCE($4::jsonb, budget), disabled = COALESCE($5::boolean, disabled), updated_at_ms = $6,
         pool = CASE WHEN $7::boolean THEN $8::text ELSE pool END
       WHERE id = $1 AND deleted_at_ms IS NULL
       RETURNING ${TENANT_COLUMNS}`,
      [
        id,
        patch.project ?? null,
        patch.limits ? limitsJson(patch.limits) : null,
        patch.budget ? budgetJson(patch.budget) : null,
        patch.disabled ?? null,
        nowMs,
        // undefined leaves the pool alone; null clears it.
        patch.pool !== undefined,
        patch.pool ?? null,
      ],
    );
    return rows[0] ? tenantFrom(rows[0]) : undefined;
  }

  async deleteTenant(id: string, nowMs: number): Promise<boolean> {
    // One statement: the tombstone and the revocations commit together.
    const { rows } = await this.#pool.query<Row>(
      `WITH gone AS (
         UPDATE tenants SET deleted_at_ms = $2, updated_at_ms = $2 WHERE id = $1 AND deleted_at_ms IS NULL RETURNING id
       ), revoked AS (
         UPDATE api_keys SET revoked_at_ms = $2 WHERE tenant_id IN (SELECT id FROM gone) AND revoked_at_ms IS NULL
       )
       SELECT count(*) AS n FROM gone`,
      [id, nowMs],
    );
    return Number(rows[0]?.n ?? 0) > 0;
  }

  async createKey(k: NewKey): Promise<StoredKey> {
    const { rows } = await this.#pool.query<Row>(
      `INSERT INTO api_keys (key_id, tenant_id, hash, name, limits, budget, expires_at_ms, created_at_ms, updated_at_ms, revoked_at_ms)
       SELECT $1::text, $2::text, $3::text, $4::text, $5::jsonb, $6::jsonb, $7::bigint, $8::bigint, $8::bigint, NULL
       WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $2::text AND deleted_at_ms IS NULL)
       ON CONFLICT DO NOTHING
       RETURNING ${KEY_COLUMNS}`,
      [k.keyId, k.tenantId, k.hash, k.name, limitsJson(k.limits ?? {}), budgetJson(k.budget ?? {}), k.expiresAtMs ?? null, k.createdAtMs],
    );
    if (rows[0]) return keyFrom(rows[0]);
    if (!(await this.getTenant(k.tenantId))) throw new NotFoundError('tenant', k.tenantId);
    throw new DuplicateError('key', k.keyId);
  }

  async updateKey(tenantId: string, keyId: string, patch: KeyPatch, nowMs: number): Promise<StoredKey | undefined> {
    // A field left out keeps its value; expiresAtMs: null clears the expiry (hence the flags).
    const { rows } = await this.#pool.query<Row>(
      `UPDATE api_keys SET name = CASE WHEN $3::boolean THEN $4::text ELSE name END, limits = COALESCE($5::jsonb, limits),
         budget = COALESCE($6::jsonb, budget), expires_at_ms = CASE WHEN $7::boolean THEN $8::bigint ELSE expires_at_ms END,
         updated_at_ms = $9
       WHERE tenant_id = $1 AND key_id = $2 AND revoked_at_ms IS NULL
       RETURNING ${KEY_COLUMNS}`,
      [
        tenantId,
        keyId,
        patch.name !== undefined,
        patch.name ?? null,
        patch.limits ? limitsJson(patch.limits) : null,
        patch.budget ? budgetJson(patch.budget) : null,
        patch.expiresAtMs !== undefined,
        patch.expiresAtMs ?? null,
        nowMs,
      ],
    );
    return rows[0] ? keyFrom(rows[0]) : undefined;
  }

  async revokeKey(tenantId: string, keyId: string, nowMs: number): Promise<boolean> {
    const res = await this.#pool.query(
      'UPDATE api_keys SET revoked_at_ms = $3 WHERE tenant_id = $1 AND key_id = $2 AND revoked_at_ms IS NULL',
      [tenantId, keyId, nowMs],
    );
    return (res.rowCount ?? 0) > 0;
  }

  async listKeys(tenantId: string): Promise<StoredKey[]> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT ${KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at_ms, key_id COLLATE "C"`,
      [tenantId],
    );
    return rows.map(keyFrom);
  }

  async changesSince(sinceMs: number): Promise<TenantChanges> {
    // "At or after": a change in the same millisecond as the caller's last look must not be
    // missed; seeing one twice is harmless. One snapshot, so the three lists agree.
    return this.#inTransaction(async (c) => {
      const tenants = await c.query<Row>(
        `SELECT ${TENANT_COLUMNS} FROM tenants WHERE deleted_at_ms IS NULL AND updated_at_ms >= $1 ORDER BY id COLLATE "C"`,
        [sinceMs],
      );
      const deleted = await c.query<Row>(
        'SELECT id FROM tenants WHERE deleted_at_ms IS NOT NULL AND deleted_at_ms >= $1 ORDER BY id COLLATE "C"',
        [sinceMs],
      );
      const keys = await c.query<Row>(
        `SELECT ${KEY_COLUMNS} FROM api_keys WHERE created_at_ms >= $1 OR updated_at_ms >= $1 OR revoked_at_ms >= $1 ORDER BY created_at_ms, key_id COLLATE "C"`,
        [sinceMs],
      );
      return {
        tenants: tenants.rows.map(tenantFrom),
        deletedTenantIds: deleted.rows.map((r) => String(r.id)),
        keys: keys.rows.map(keyFrom),
      };
    }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async schemaVersion(): Promise<number> {
    const r = await this.#pool.query<Row>("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
    if (!r.rows[0]?.present) return 0;
    const v = await this.#pool.query<Row>('SELECT max(version) AS version FROM schema_migrations');
    return Number(v.rows[0]?.version ?? 0);
  }

  async close(): Promise<void> {
    if (!this.#pool.ended) await this.#pool.end();
  }

  async #inTransaction<T>(fn: (c: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query(begin);
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw e;
    } finally {
      // A client whose connection failed mid-transaction is discarded rather than reused.
      client.release(broken);
    }
  }
}
