import type { Migration } from './index.js';

// The admin console's "recent calls" (#18) reads the newest records, filtered or not, and one
// request's records by its id: without these, each look sorts or scans the whole ledger.
const sql = `
CREATE INDEX usage_records_time ON usage_records (time_ms);
CREATE INDEX usage_records_request ON usage_records (request_id);
`;

export const recentCallsIndexes: Migration = {
  version: 3,
  name: 'indexes for recent calls and request lookups',
  sqlite: sql,
  postgres: sql,
};
