/**
 * PostgresDatabase's BatchStore (#16). Admission sums the active batches of one project and
 * model under a transaction-scoped advisory lock on that pair, so instances admitting at once
 * queue on it and none reads a sum another is about to grow.
 */
import type pg from 'pg';
import {
  BATCH_COLUMNS,
  batchFileFrom,
  batchFrom,
  docJson,
  FILE_COLUMNS,
  SESSION_COLUMNS,
  uploadSessionFrom,
  type BatchAdmission,
  type BatchPatch,
  type BatchStore,
  type StoredBatch,
  type StoredBatchFile,
  type StoredUploadSession,
} from './batch-store.js';
import type { Cell } from './usage-sql.js';

type Row = Record<string, Cell>;
type InTransaction = <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>;

export class PostgresBatchStore implements BatchStore {
  readonly #pool: pg.Pool;
  readonly #inTransaction: InTransaction;

  constructor(pool: pg.Pool, inTransaction: InTransaction) {
    this.#pool = pool;
    this.#inTransaction = inTransaction;
  }

  async admitBatch(b: StoredBatch, limitTokens: number | undefined): Promise<BatchAdmission> {
    return this.#inTransaction(async (c) => {
      if (limitTokens !== undefined) {
        await c.query("SELECT pg_advisory_xact_lock(hashtextextended('nanogate-batch-tokens|' || $1 || '|' || $2, 0))", [b.projectId, b.model]);
        const { rows } = await c.query<Row>('SELECT COALESCE(SUM(enqueued_tokens), 0) AS used FROM batch_jobs WHERE project_id = $1 AND model = $2 AND active', [b.projectId, b.model]);
        const used = Number(rows[0]?.used ?? 0);
        if (used + b.enqueuedTokens > limitTokens) return { admitted: false, enqueuedTokens: used };
      }
      await c.query(`INSERT INTO batch_jobs (${BATCH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)`, [
        b.name,
        b.tenantId,
        b.keyId,
        b.projectId,
        b.model,
        b.googleName,
        b.state,
        b.enqueuedTokens,
        b.active,
        b.settledAtMs,
        b.deletedAtMs,
        b.createdAtMs,
        b.updatedAtMs,
        docJson(b.doc),
      ]);
      return { admitted: true } as const;
    });
  }

  async getBatch(name: string): Promise<StoredBatch | undefined> {
    const { rows } = await this.#pool.query<Row>({ name: 'nanogate_get_batch', text: `SELECT ${BATCH_COLUMNS} FROM batch_jobs WHERE name = $1`, values: [name] });
    return rows[0] ? batchFrom(rows[0]) : undefined;
  }

  async listBatches(q: { tenantId: string; limit: number; before?: { createdAtMs: number; name: string } }): Promise<StoredBatch[]> {
    const limit = Math.max(0, Math.floor(q.limit));
    const { rows } = q.before
      ? await this.#pool.query<Row>(
          `SELECT ${BATCH_COLUMNS} FROM batch_jobs WHERE tenant_id = $1 AND deleted_at_ms IS NULL
             AND (created_at_ms < $2 OR (created_at_ms = $2 AND name COLLATE "C" < $3))
           ORDER BY created_at_ms DESC, name COLLATE "C" DESC LIMIT $4`,
          [q.tenantId, q.before.createdAtMs, q.before.name, limit],
        )
      : await this.#pool.query<Row>(
          `SELECT ${BATCH_COLUMNS} FROM batch_jobs WHERE tenant_id = $1 AND deleted_at_ms IS NULL ORDER BY created_at_ms DESC, name COLLATE "C" DESC LIMIT $2`,
          [q.tenantId, limit],
        );
    return rows.map(batchFrom);
  }

  async updateBatch(name: string, patch: BatchPatch, nowMs: number): Promise<StoredBatch | undefined> {
    const { rows } = await this.#pool.query<Row>(
      `UPDATE batch_jobs SET google_name = CASE WHEN $2::boolean THEN $3::text ELSE google_name END, state = COALESCE($4::text, state),
         active = COALESCE($5::boolean, active), deleted_at_ms = CASE WHEN $6::boolean THEN $7::bigint ELSE deleted_at_ms END,
         doc = COALESCE($8::jsonb, doc), updated_at_ms = $9
       WHERE name = $1 RETURNING ${BATCH_COLUMNS}`,
      [
        name,
        patch.googleName !== undefined,
        patch.googleName ?? null,
        patch.state ?? null,
        patch.active ?? null,
        patch.deletedAtMs !== undefined,
        patch.deletedAtMs ?? null,
        patch.doc ? docJson(patch.doc) : null,
        nowMs,
      ],
    );
    return rows[0] ? batchFrom(rows[0]) : undefined;
  }

  async markBatchSettled(name: string, nowMs: number, doc: Record<string, unknown>): Promise<boolean> {
    const res = await this.#pool.query('UPDATE batch_jobs SET settled_at_ms = $2, active = false, doc = $3::jsonb, updated_at_ms = $2 WHERE name = $1 AND settled_at_ms IS NULL', [
      name,
      nowMs,
      docJson(doc),
    ]);
    return (res.rowCount ?? 0) > 0;
  }

  async removeBatch(name: string): Promise<void> {
    await this.#pool.query('DELETE FROM batch_jobs WHERE name = $1', [name]);
  }

  async unsettledBatches(limit: number): Promise<StoredBatch[]> {
    const { rows } = await this.#pool.query<Row>({
      name: 'nanogate_unsettled_batches',
      text: `SELECT ${BATCH_COLUMNS} FROM batch_jobs WHERE settled_at_ms IS NULL ORDER BY created_at_ms, name COLLATE "C" LIMIT $1`,
      values: [Math.max(0, Math.floor(limit))],
    });
    return rows.map(batchFrom);
  }

  async createBatchFile(f: StoredBatchFile): Promise<boolean> {
    const res = await this.#pool.query(
      `INSERT INTO batch_files (${FILE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) ON CONFLICT (name) DO NOTHING`,
      [f.name, f.tenantId, f.keyId, f.projectId, f.googleName, f.purpose, f.createdAtMs, f.expiresAtMs, f.deletedAtMs, docJson(f.doc)],
    );
    return (res.rowCount ?? 0) > 0;
  }

  async getBatchFile(name: string): Promise<StoredBatchFile | undefined> {
    const { rows } = await this.#pool.query<Row>({ name: 'nanogate_get_batch_file', text: `SELECT ${FILE_COLUMNS} FROM batch_files WHERE name = $1`, values: [name] });
    return rows[0] ? batchFileFrom(rows[0]) : undefined;
  }

  async listBatchFiles(q: { tenantId: string; limit: number; purpose?: string; before?: { createdAtMs: number; name: string } }): Promise<StoredBatchFile[]> {
    const where = ['tenant_id = $1', 'deleted_at_ms IS NULL'];
    const params: Array<string | number> = [q.tenantId];
    if (q.purpose !== undefined) {
      params.push(q.purpose);
      where.push(`purpose = $${params.length}`);
    }
    if (q.before) {
      params.push(q.before.createdAtMs, q.before.name);
      where.push(`(created_at_ms < $${params.length - 1} OR (created_at_ms = $${params.length - 1} AND name COLLATE "C" < $${params.length}))`);
    }
    params.push(Math.max(0, Math.floor(q.limit)));
    const { rows } = await this.#pool.query<Row>(
      `SELECT ${FILE_COLUMNS} FROM batch_files WHERE ${where.join(' AND ')} ORDER BY created_at_ms DESC, name COLLATE "C" DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(batchFileFrom);
  }

  async deleteBatchFile(name: string, nowMs: number): Promise<boolean> {
    const res = await this.#pool.query('UPDATE batch_files SET deleted_at_ms = $2 WHERE name = $1 AND deleted_at_ms IS NULL', [name, nowMs]);
    return (res.rowCount ?? 0) > 0;
  }

  async createUploadSession(s: StoredUploadSession): Promise<void> {
    await this.#pool.query(`INSERT INTO upload_sessions (${SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`, [
      s.id,
      s.tenantId,
      s.keyId,
      s.projectId,
      s.receivedBytes,
      s.createdAtMs,
      s.expiresAtMs,
      docJson(s.doc),
    ]);
  }

  async getUploadSession(id: string): Promise<StoredUploadSession | undefined> {
    const { rows } = await this.#pool.query<Row>({ name: 'nanogate_get_upload_session', text: `SELECT ${SESSION_COLUMNS} FROM upload_sessions WHERE id = $1`, values: [id] });
    return rows[0] ? uploadSessionFrom(rows[0]) : undefined;
  }

  async advanceUploadSession(id: string, fromBytes: number, toBytes: number, doc: Record<string, unknown>): Promise<boolean> {
    const res = await this.#pool.query('UPDATE upload_sessions SET received_bytes = $3, doc = $4::jsonb WHERE id = $1 AND received_bytes = $2', [id, fromBytes, toBytes, docJson(doc)]);
    return (res.rowCount ?? 0) > 0;
  }

  async deleteUploadSession(id: string): Promise<void> {
    await this.#pool.query('DELETE FROM upload_sessions WHERE id = $1', [id]);
  }

  async acquireLease(name: string, holder: string, nowMs: number, ttlMs: number): Promise<boolean> {
    const res = await this.#pool.query(
      `INSERT INTO batch_leases (name, holder, expires_at_ms) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
       WHERE batch_leases.holder = excluded.holder OR batch_leases.expires_at_ms <= $4`,
      [name, holder, nowMs + ttlMs, nowMs],
    );
    return (res.rowCount ?? 0) > 0;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.#pool.query('DELETE FROM batch_leases WHERE name = $1 AND holder = $2', [name, holder]);
  }
}
