import type { Migration } from './index.js';

// Instances read tenant and key changes every few seconds (TenantRegistry.refresh): with these
// indexes a read of "what changed since t" touches the changed rows only, not every tenant.
const sql = `
CREATE INDEX tenants_updated ON tenants (updated_at_ms);
CREATE INDEX tenants_deleted ON tenants (deleted_at_ms);
CREATE INDEX api_keys_created ON api_keys (created_at_ms);
CREATE INDEX api_keys_revoked ON api_keys (revoked_at_ms);
`;

export const changeIndexes: Migration = {
  version: 2,
  name: 'indexes for incremental tenant and key reads',
  sqlite: sql,
  postgres: sql,
};
