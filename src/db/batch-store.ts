/**
 * Google batches and files as the gateway keeps them (#16): which tenant and key made each,
 * its Google name (never shown to a tenant), its state, and the rest as a JSON document. Part of
 * the Database interface (database.ts extends it); both engines implement it with the SQL of
 * batch-sql.ts, and the shared contract (test/db/batch-store.contract.ts) covers them.
 *
 * Ownership is decided by the batch service on the rows read here: the store answers any name,
 * so the follower can settle every tenant's batches.
 */
import { toNumber, type Cell } from './usage-sql.js';

/** A batch as stored: the columns queries need, and `doc` for everything else. */
export interface StoredBatch {
  /** The gateway's name, `batches/<hex>`: what tenants see. */
  name: string;
  tenantId: string;
  keyId: string;
  projectId: string;
  /** Canonical model id. */
  model: string;
  /** Google's name (`batches/…`); null until Google accepted it. */
  googleName: string | null;
  /** Google's BatchState, or SUBMITTING while the create call is out. */
  state: string;
  /** Estimated input tokens of its requests: what it holds of the project's batchTokens limit while active. */
  enqueuedTokens: number;
  /** Counted against the batchTokens limit: submitting, pending or running at Google. */
  active: boolean;
  /** When its usage was recorded and its budget hold settled; null until then. */
  settledAtMs: number | null;
  /** When its tenant deleted it (it is still followed until settled); null while visible. */
  deletedAtMs: number | null;
  createdAtMs: number;
  updatedAtMs: number;
  doc: Record<string, unknown>;
}

/** A file as stored: an uploaded batch input, or a batch's result file at Google. */
export interface StoredBatchFile {
  /** The gateway's name, `files/<hex>`. */
  name: string;
  tenantId: string;
  keyId: string;
  projectId: string;
  googleName: string;
  /** 'batch' (an input), 'batch_output' (a result file), 'user_data' (anything else uploaded). */
  purpose: string;
  createdAtMs: number;
  expiresAtMs: number | null;
  deletedAtMs: number | null;
  doc: Record<string, unknown>;
}

/** A resumable upload under way: Google's session URL and what the gateway learnt of the bytes so far. */
export interface StoredUploadSession {
  id: string;
  tenantId: string;
  keyId: string;
  projectId: string;
  /** Bytes received and forwarded so far: the offset the next chunk must start at. */
  receivedBytes: number;
  createdAtMs: number;
  expiresAtMs: number;
  doc: Record<string, unknown>;
}

export type BatchAdmission = { admitted: true } | { admitted: false; enqueuedTokens: number };

export type BatchPatch = Partial<Pick<StoredBatch, 'googleName' | 'state' | 'active' | 'deletedAtMs' | 'doc'>>;

export interface BatchStore {
  /**
   * Inserts the batch if the active batches of its project and model, with it, hold at most
   * `limitTokens` enqueued tokens (undefined: no limit); atomic across instances. Throws on a
   * duplicate name.
   */
  admitBatch(batch: StoredBatch, limitTokens: number | undefined): Promise<BatchAdmission>;
  getBatch(name: string): Promise<StoredBatch | undefined>;
  /** A tenant's batches not deleted, newest first (by creation, then name), after `before` (exclusive), at most `limit`. */
  listBatches(q: { tenantId: string; limit: number; before?: { createdAtMs: number; name: string } }): Promise<StoredBatch[]>;
  /** Changes the given fields (and updatedAtMs); undefined when there is no such batch. */
  updateBatch(name: string, patch: BatchPatch, nowMs: number): Promise<StoredBatch | undefined>;
  /**
   * Marks the batch settled and no longer active, with its final doc, only if it was not settled
   * yet: true for the one caller that did it (budget settlement hangs on this, exactly once).
   */
  markBatchSettled(name: string, nowMs: number, doc: Record<string, unknown>): Promise<boolean>;
  /** Forgets a batch that never reached Google (its create call failed). */
  removeBatch(name: string): Promise<void>;
  /** Batches of every tenant not settled yet, oldest first, at most `limit`: the follower's work. */
  unsettledBatches(limit: number): Promise<StoredBatch[]>;

  /** Inserts the file; false when its name is taken (a result file registered twice). */
  createBatchFile(file: StoredBatchFile): Promise<boolean>;
  getBatchFile(name: string): Promise<StoredBatchFile | undefined>;
  /** A tenant's files not deleted, newest first, after `before` (exclusive), at most `limit`. */
  listBatchFiles(q: { tenantId: string; limit: number; purpose?: string; before?: { createdAtMs: number; name: string } }): Promise<StoredBatchFile[]>;
  /** Tombstones the file; false when it was already deleted or never existed. */
  deleteBatchFile(name: string, nowMs: number): Promise<boolean>;

  createUploadSession(session: StoredUploadSession): Promise<void>;
  getUploadSession(id: string): Promise<StoredUploadSession | undefined>;
  /** Moves the session from `fromBytes` to `toBytes` with its new doc, only if it still is at `fromBytes`: one chunk wins. */
  advanceUploadSession(id: string, fromBytes: number, toBytes: number, doc: Record<string, unknown>): Promise<boolean>;
  deleteUploadSession(id: string): Promise<void>;

  /**
   * Takes or renews the lease `name` for `holder` until nowMs + ttlMs, if it is free, lapsed, or
   * already this holder's: true when the holder has it now. One follower of batches at a time.
   */
  acquireLease(name: string, holder: string, nowMs: number, ttlMs: number): Promise<boolean>;
  /** Gives the lease up, if this holder has it. */
  releaseLease(name: string, holder: string): Promise<void>;
}

// ---- row mapping, shared by both engines ----

/** SQLite gives JSON as text, PostgreSQL's JSONB parsed. */
export function docFrom(v: Cell): Record<string, unknown> {
  const parsed: unknown = typeof v === 'string' ? JSON.parse(v) : v;
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
}

const nullableNumber = (v: Cell): number | null => (v === null || v === undefined ? null : toNumber(v));
const nullableText = (v: Cell): string | null => (v === null || v === undefined ? null : String(v));
const bool = (v: Cell): boolean => v === true || v === 1 || v === 1n;

export const BATCH_COLUMNS =
  'name, tenant_id, key_id, project_id, model, google_name, state, enqueued_tokens, active, settled_at_ms, deleted_at_ms, created_at_ms, updated_at_ms, doc';

export function batchFrom(row: Record<string, Cell>): StoredBatch {
  return {
    name: String(row.name),
    tenantId: String(row.tenant_id),
    keyId: String(row.key_id),
    projectId: String(row.project_id),
    model: String(row.model),
    googleName: nullableText(row.google_name),
    state: String(row.state),
    enqueuedTokens: toNumber(row.enqueued_tokens),
    active: bool(row.active),
    settledAtMs: nullableNumber(row.settled_at_ms),
    deletedAtMs: nullableNumber(row.deleted_at_ms),
    createdAtMs: toNumber(row.created_at_ms),
    updatedAtMs: toNumber(row.updated_at_ms),
    doc: docFrom(row.doc),
  };
}

export const FILE_COLUMNS = 'name, tenant_id, key_id, project_id, google_name, purpose, created_at_ms, expires_at_ms, deleted_at_ms, doc';

export function batchFileFrom(row: Record<string, Cell>): StoredBatchFile {
  return {
    name: String(row.name),
    tenantId: String(row.tenant_id),
    keyId: String(row.key_id),
    projectId: String(row.project_id),
    googleName: String(row.google_name),
    purpose: String(row.purpose),
    createdAtMs: toNumber(row.created_at_ms),
    expiresAtMs: nullableNumber(row.expires_at_ms),
    deletedAtMs: nullableNumber(row.deleted_at_ms),
    doc: docFrom(row.doc),
  };
}

export const SESSION_COLUMNS = 'id, tenant_id, key_id, project_id, received_bytes, created_at_ms, expires_at_ms, doc';

export function uploadSessionFrom(row: Record<string, Cell>): StoredUploadSession {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    keyId: String(row.key_id),
    projectId: String(row.project_id),
    receivedBytes: toNumber(row.received_bytes),
    createdAtMs: toNumber(row.created_at_ms),
    expiresAtMs: toNumber(row.expires_at_ms),
    doc: docFrom(row.doc),
  };
}

/** PostgreSQL refuses NUL in JSONB (a display name comes from the client). */
export function docJson(doc: Record<string, unknown>): string {
  const json = JSON.stringify(doc);
  return json.includes('\\u0000') ? JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'string' ? v.replaceAll('\0', '') : v)) : json;
}

/** Every BatchStore method, for the engines' delegation below (checked complete at compile time). */
export const BATCH_STORE_METHODS = [
  'admitBatch',
  'getBatch',
  'listBatches',
  'updateBatch',
  'markBatchSettled',
  'removeBatch',
  'unsettledBatches',
  'createBatchFile',
  'getBatchFile',
  'listBatchFiles',
  'deleteBatchFile',
  'createUploadSession',
  'getUploadSession',
  'advanceUploadSession',
  'deleteUploadSession',
  'acquireLease',
  'releaseLease',
] as const satisfies ReadonlyArray<keyof BatchStore>;

type Unlisted = Exclude<keyof BatchStore, (typeof BATCH_STORE_METHODS)[number]>;
const everyMethodListed: [Unlisted] extends [never] ? true : never = true;
void everyMethodListed;

type AnyCall = (...args: unknown[]) => Promise<unknown>;

/**
 * Puts the BatchStore methods on a Database class instance, each calling `store` (through
 * `wrap`, which GuardedDatabase uses to guard each one). Why not one forwarding method per
 * operation: the engines' files are shared with every other storage change, and seventeen
 * one-line forwarders in each of three classes would be noise there. The classes declare the
 * methods by interface merging (`interface SqliteDatabase extends BatchStore {}`).
 */
export function delegateBatchStore(target: object, store: BatchStore, wrap: (operation: string, call: () => Promise<unknown>) => Promise<unknown> = (_op, call) => call()): void {
  for (const method of BATCH_STORE_METHODS) {
    const fn = (store[method] as AnyCall).bind(store);
    Object.defineProperty(target, method, { value: (...args: unknown[]) => wrap(method, () => fn(...args)), enumerable: false, writable: true, configurable: true });
  }
}
