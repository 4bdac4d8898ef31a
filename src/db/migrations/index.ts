/**
 * The versioned schema (contract §9: created and migrated at start). A migration is never
 * edited once shipped: a change is a new version. Each carries the SQL for both engines, so the
 * two stay in step and one contract suite covers them.
 */
import { initialSchema } from './001-initial.js';
import { changeIndexes } from './002-change-indexes.js';
import { recentCallsIndexes } from './003-recent-calls-indexes.js';
import { keySettings } from './004-key-settings.js';
import { batches } from './005-batches.js';
import { tenantPools } from './006-tenant-pools.js';

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [initialSchema, changeIndexes, recentCallsIndexes, keySettings, batches, tenantPools];

/** Bookkeeping table, created before any migration runs. */
export const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL
)`;
