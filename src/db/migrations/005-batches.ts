import type { Migration } from './index.js';

// #16: Google batches and files, owned by the tenant (and key) that made them, shared by every
// instance. The columns are what queries filter on; the rest of each object is its `doc`.
// - batch_jobs: `active` rows hold their enqueued tokens against the project's batchTokens
//   limit (admitBatch sums them per project and model); the follower reads unsettled rows.
// - batch_files: uploaded inputs and Google's result files, by the gateway's name.
// - upload_sessions: resumable uploads in flight (any instance may take the next chunk).
// - batch_leases: one follower of batches at a time.
const sql = (t: { bigint: string; bool: string; json: string }) => `
CREATE TABLE batch_jobs (
  name TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  model TEXT NOT NULL,
  google_name TEXT UNIQUE,
  state TEXT NOT NULL,
  enqueued_tokens ${t.bigint} NOT NULL,
  active ${t.bool} NOT NULL,
  settled_at_ms ${t.bigint},
  deleted_at_ms ${t.bigint},
  created_at_ms ${t.bigint} NOT NULL,
  updated_at_ms ${t.bigint} NOT NULL,
  doc ${t.json} NOT NULL
);
CREATE INDEX batch_jobs_tenant ON batch_jobs (tenant_id, created_at_ms);
CREATE INDEX batch_jobs_active ON batch_jobs (project_id, model, active);
CREATE INDEX batch_jobs_unsettled ON batch_jobs (settled_at_ms, created_at_ms);

CREATE TABLE batch_files (
  name TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  google_name TEXT NOT NULL,
  purpose TEXT NOT NULL,
  created_at_ms ${t.bigint} NOT NULL,
  expires_at_ms ${t.bigint},
  deleted_at_ms ${t.bigint},
  doc ${t.json} NOT NULL
);
CREATE INDEX batch_files_tenant ON batch_files (tenant_id, created_at_ms);

CREATE TABLE upload_sessions (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  received_bytes ${t.bigint} NOT NULL,
  created_at_ms ${t.bigint} NOT NULL,
  expires_at_ms ${t.bigint} NOT NULL,
  doc ${t.json} NOT NULL
);

CREATE TABLE batch_leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at_ms ${t.bigint} NOT NULL
);
`;

export const batches: Migration = {
  version: 5,
  name: 'batches, batch files, upload sessions, leases',
  sqlite: sql({ bigint: 'INTEGER', bool: 'INTEGER', json: 'TEXT' }),
  postgres: sql({ bigint: 'BIGINT', bool: 'BOOLEAN', json: 'JSONB' }),
};
