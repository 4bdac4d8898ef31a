import type { Migration } from './index.js';

// #13: a key may carry its own limits, budget and expiry (its label is the existing `name`).
// PATCH changes them, so keys get an updated_at_ms that changesSince reads, as tenants have.
const sql = (t: { bigint: string; json: string; emptyJson: string }) => `
ALTER TABLE api_keys ADD COLUMN limits ${t.json} NOT NULL DEFAULT ${t.emptyJson};
ALTER TABLE api_keys ADD COLUMN budget ${t.json} NOT NULL DEFAULT ${t.emptyJson};
ALTER TABLE api_keys ADD COLUMN expires_at_ms ${t.bigint};
ALTER TABLE api_keys ADD COLUMN updated_at_ms ${t.bigint} NOT NULL DEFAULT 0;
UPDATE api_keys SET updated_at_ms = created_at_ms;
CREATE INDEX api_keys_updated ON api_keys (updated_at_ms);
`;

export const keySettings: Migration = {
  version: 4,
  name: 'per-key limits, budget and expiry',
  sqlite: sql({ bigint: 'INTEGER', json: 'TEXT', emptyJson: "'{}'" }),
  postgres: sql({ bigint: 'BIGINT', json: 'JSONB', emptyJson: "'{}'::jsonb" }),
};
