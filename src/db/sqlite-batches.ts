/**
 * SqliteDatabase's BatchStore (#16). node:sqlite is synchronous and these statements are short
 * and rare (a few per batch or upload chunk), so they run inline like tenant writes. Admission
 * runs in an IMMEDIATE transaction: two processes on one file take the write lock in turn, so
 * the enqueued-token sum they read cannot be stale.
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
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

type Transaction = <T>(fn: () => T) => T;

export class SqliteBatchStore implements BatchStore {
  readonly #db: DatabaseSync;
  readonly #transaction: Transaction;
  /** Prepared on first use (the tables exist only after migrate()), kept by SQL text. */
  readonly #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync, transaction: Transaction) {
    this.#db = db;
    this.#transaction = transaction;
  }

  #stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  async admitBatch(b: StoredBatch, limitTokens: number | undefined): Promise<BatchAdmission> {
    return this.#transaction(() => {
      if (limitTokens !== undefined) {
        const row = this.#stmt('SELECT COALESCE(SUM(enqueued_tokens), 0) AS used FROM batch_jobs WHERE project_id = ? AND model = ? AND active = 1').get(b.projectId, b.model);
        const used = Number(row?.used ?? 0);
        if (used + b.enqueuedTokens > limitTokens) return { admitted: false, enqueuedTokens: used };
      }
      this.#stmt(`INSERT INTO batch_jobs (${BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...batchValues(b));
      return { admitted: true } as const;
    });
  }

  async getBatch(name: string): Promise<StoredBatch | undefined> {
    const row = this.#stmt(`SELECT ${BATCH_COLUMNS} FROM batch_jobs WHERE name = ?`).get(name);
    return row ? batchFrom(row) : undefined;
  }

  async listBatches(q: { tenantId: string; limit: number; before?: { createdAtMs: number; name: string } }): Promise<StoredBatch[]> {
    const limit = Math.max(0, Math.floor(q.limit));
    if (q.before) {
      return this.#stmt(
        `SELECT ${BATCH_COLUMNS} FROM batch_jobs WHERE tenant_id = ? AND deleted_at_ms IS NULL AND (created_at_ms < ? OR (created_at_ms = ? AND name < ?))
         ORDER BY created_at_ms DESC, name DESC LIMIT ?`,
      )
        .all(q.tenantId, q.before.createdAtMs, q.before.createdAtMs, q.before.name, limit)
        .map(batchFrom);
    }
    return this.#stmt(`SELECT ${BATCH_COLUMNS} FROM batch_jobs WHERE tenant_id = ? AND deleted_at_ms IS NULL ORDER BY created_at_ms DESC, name DESC LIMIT ?`)
      .all(q.tenantId, limit)
      .map(batchFrom);
  }

  async updateBatch(name: string, patch: BatchPatch, nowMs: number): Promise<StoredBatch | undefined> {
    // A field left out keeps its value; google_name and deleted_at_ms may be set to null on purpose (hence the flags).
    const row = this.#stmt(
      `UPDATE batch_jobs SET google_name = CASE WHEN ? THEN ? ELSE google_name END, state = COALESCE(?, state),
         active = COALESCE(?, active), deleted_at_ms = CASE WHEN ? THEN ? ELSE deleted_at_ms END, doc = COALESCE(?, doc), updated_at_ms = ?
       WHERE name = ? RETURNING ${BATCH_COLUMNS}`,
    ).get(
      patch.googleName !== undefined ? 1 : 0,
      patch.googleName ?? null,
      patch.state ?? null,
      patch.active === undefined ? null : patch.active ? 1 : 0,
      patch.deletedAtMs !== undefined ? 1 : 0,
      patch.deletedAtMs ?? null,
      patch.doc ? docJson(patch.doc) : null,
      nowMs,
      name,
    );
    return row ? batchFrom(row) : undefined;
  }

  async markBatchSettled(name: string, nowMs: number, doc: Record<string, unknown>): Promise<boolean> {
    const res = this.#stmt('UPDATE batch_jobs SET settled_at_ms = ?, active = 0, doc = ?, updated_at_ms = ? WHERE name = ? AND settled_at_ms IS NULL').run(nowMs, docJson(doc), nowMs, name);
    return Number(res.changes) > 0;
  }

  async removeBatch(name: string): Promise<void> {
    this.#stmt('DELETE FROM batch_jobs WHERE name = ?').run(name);
  }

  async unsettledBatches(limit: number): Promise<StoredBatch[]> {
    return this.#stmt(`SELECT ${BATCH_COLUMNS} FROM batch_jobs WHERE settled_at_ms IS NULL ORDER BY created_at_ms, name LIMIT ?`)
      .all(Math.max(0, Math.floor(limit)))
      .map(batchFrom);
  }

  async createBatchFile(f: StoredBatchFile): Promise<boolean> {
    const res = this.#stmt(`INSERT INTO batch_files (${FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`).run(
      f.name,
      f.tenantId,
      f.keyId,
      f.projectId,
      f.googleName,
      f.purpose,
      f.createdAtMs,
      f.expiresAtMs,
      f.deletedAtMs,
      docJson(f.doc),
    );
    return Number(res.changes) > 0;
  }

  async getBatchFile(name: string): Promise<StoredBatchFile | undefined> {
    const row = this.#stmt(`SELECT ${FILE_COLUMNS} FROM batch_files WHERE name = ?`).get(name);
    return row ? batchFileFrom(row) : undefined;
  }

  async listBatchFiles(q: { tenantId: string; limit: number; purpose?: string; before?: { createdAtMs: number; name: string } }): Promise<StoredBatchFile[]> {
    const where = ['tenant_id = ?', 'deleted_at_ms IS NULL'];
    const params: SQLInputValue[] = [q.tenantId];
    if (q.purpose !== undefined) {
      where.push('purpose = ?');
      params.push(q.purpose);
    }
    if (q.before) {
      where.push('(created_at_ms < ? OR (created_at_ms = ? AND name < ?))');
      params.push(q.before.createdAtMs, q.before.createdAtMs, q.before.name);
    }
    params.push(Math.max(0, Math.floor(q.limit)));
    return this.#stmt(`SELECT ${FILE_COLUMNS} FROM batch_files WHERE ${where.join(' AND ')} ORDER BY created_at_ms DESC, name DESC LIMIT ?`)
      .all(...params)
      .map(batchFileFrom);
  }

  async deleteBatchFile(name: string, nowMs: number): Promise<boolean> {
    const res = this.#stmt('UPDATE batch_files SET deleted_at_ms = ? WHERE name = ? AND deleted_at_ms IS NULL').run(nowMs, name);
    return Number(res.changes) > 0;
  }

  async createUploadSession(s: StoredUploadSession): Promise<void> {
    this.#stmt(`INSERT INTO upload_sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(
      s.id,
      s.tenantId,
      s.keyId,
      s.projectId,
      s.receivedBytes,
      s.createdAtMs,
      s.expiresAtMs,
      docJson(s.doc),
    );
  }

  async getUploadSession(id: string): Promise<StoredUploadSession | undefined> {
    const row = this.#stmt(`SELECT ${SESSION_COLUMNS} FROM upload_sessions WHERE id = ?`).get(id);
    return row ? uploadSessionFrom(row) : undefined;
  }

  async advanceUploadSession(id: string, fromBytes: number, toBytes: number, doc: Record<string, unknown>): Promise<boolean> {
    const res = this.#stmt('UPDATE upload_sessions SET received_bytes = ?, doc = ? WHERE id = ? AND received_bytes = ?').run(toBytes, docJson(doc), id, fromBytes);
    return Number(res.changes) > 0;
  }

  async deleteUploadSession(id: string): Promise<void> {
    this.#stmt('DELETE FROM upload_sessions WHERE id = ?').run(id);
  }

  async acquireLease(name: string, holder: string, nowMs: number, ttlMs: number): Promise<boolean> {
    const res = this.#stmt(
      `INSERT INTO batch_leases (name, holder, expires_at_ms) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
       WHERE batch_leases.holder = excluded.holder OR batch_leases.expires_at_ms <= ?`,
    ).run(name, holder, nowMs + ttlMs, nowMs);
    return Number(res.changes) > 0;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.#stmt('DELETE FROM batch_leases WHERE name = ? AND holder = ?').run(name, holder);
  }
}

function batchValues(b: StoredBatch): SQLInputValue[] {
  return [
    b.name,
    b.tenantId,
    b.keyId,
    b.projectId,
    b.model,
    b.googleName,
    b.state,
    b.enqueuedTokens,
    b.active ? 1 : 0,
    b.settledAtMs,
    b.deletedAtMs,
    b.createdAtMs,
    b.updatedAtMs,
    docJson(b.doc),
  ];
}
