import type { Migration } from './index.js';

// Per-record counts fit 32 bits; money is BIGINT nano-USD so sums stay exact (contract §8).
// `day` is the Pacific day computed by the meter: reports group by it, never by UTC dates.
const usageColumns = (t: { bigint: string; bool: string; json: string }) => `
  id TEXT PRIMARY KEY,
  time_ms ${t.bigint} NOT NULL,
  day TEXT NOT NULL,
  request_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  route TEXT NOT NULL,
  model_asked TEXT NOT NULL,
  model TEXT NOT NULL,
  image_size TEXT,
  images_returned INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  input_text_tokens INTEGER NOT NULL,
  input_image_tokens INTEGER NOT NULL,
  output_image_tokens INTEGER NOT NULL,
  output_text_tokens INTEGER NOT NULL,
  thinking_tokens INTEGER NOT NULL,
  cost_nano_usd ${t.bigint} NOT NULL,
  http_status INTEGER NOT NULL,
  finish_reason TEXT,
  latency_ms INTEGER NOT NULL,
  user_label TEXT,
  batch ${t.bool} NOT NULL,
  flags TEXT NOT NULL,
  usage_metadata ${t.json},
  price_version TEXT NOT NULL`;

const schema = (t: { bigint: string; bool: string; json: string }) => `
CREATE TABLE usage_records (${usageColumns(t)}
);
CREATE INDEX usage_records_day_tenant ON usage_records (day, tenant_id);
CREATE INDEX usage_records_tenant_time ON usage_records (tenant_id, time_ms);

-- Deleted tenants stay as tombstones (deleted_at_ms) so every instance's auth cache learns of
-- the deletion through changesSince; the id may be reused by a later create.
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  project TEXT NOT NULL,
  limits ${t.json} NOT NULL,
  budget ${t.json} NOT NULL,
  disabled ${t.bool} NOT NULL,
  created_at_ms ${t.bigint} NOT NULL,
  updated_at_ms ${t.bigint} NOT NULL,
  deleted_at_ms ${t.bigint}
);

CREATE TABLE api_keys (
  key_id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  hash TEXT NOT NULL UNIQUE,
  name TEXT,
  created_at_ms ${t.bigint} NOT NULL,
  revoked_at_ms ${t.bigint}
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
`;

export const initialSchema: Migration = {
  version: 1,
  name: 'usage records, tenants, api keys',
  sqlite: schema({ bigint: 'INTEGER', bool: 'INTEGER', json: 'TEXT' }),
  postgres: schema({ bigint: 'BIGINT', bool: 'BOOLEAN', json: 'JSONB' }),
};
