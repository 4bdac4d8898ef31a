import type { Migration } from './index.js';

// #17: an admin-made tenant may name a pool of projects instead of one project. `project` stays
// (NOT NULL): it holds the pool's first project, where the tenant's batches and files go.
const sql = `ALTER TABLE tenants ADD COLUMN pool TEXT;`;

export const tenantPools: Migration = {
  version: 6,
  name: 'tenants may name a pool of projects',
  sqlite: sql,
  postgres: sql,
};
