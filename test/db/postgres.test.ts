import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { MIGRATIONS } from '../../src/db/migrations/index.js';
import { withPgClient } from '../support/postgres.js';
import { databaseContract } from './database.contract.js';

const pgUrl = inject('pgUrl');

/** The run's throwaway database, narrowed to a schema of this file's own via search_path. */
function schemaUrl(schema: string): string {
  const u = new URL(pgUrl);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

const admin = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => withPgClient(pgUrl, fn);

const recreateSchema = (schema: string) =>
  admin(async (c) => {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.query(`CREATE SCHEMA ${schema}`);
  });

const dropSchema = (schema: string) => admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));

if (!pgUrl) {
  console.warn('\n!!! PostgreSQL unavailable (pgUrl is empty): the PostgreSQL Database contract is SKIPPED !!!\n');
  describe.skip('Database contract: PostgreSQL', () => {
    it('needs a PostgreSQL server', () => {});
  });
} else {
  const schema = `dbcontract_${process.pid}`;

  databaseContract('PostgreSQL (pg)', {
    reset: () => recreateSchema(schema),
    open: () => openDatabase({ url: schemaUrl(schema), sqlitePath: 'unused' }),
    teardown: () => dropSchema(schema).then(() => {}),
  });

  describe('PostgreSQL migrations', () => {
    it('applies each migration once when several instances start together', async () => {
      const own = `dbmigrate_${process.pid}`;
      await recreateSchema(own);
      const dbs = await Promise.all(Array.from({ length: 4 }, () => openDatabase({ url: schemaUrl(own), sqlitePath: 'unused' })));
      try {
        await Promise.all(dbs.map((d) => d.migrate()));
        const versions = await admin((c) => c.query<{ version: number }>(`SELECT version FROM ${own}.schema_migrations ORDER BY version`));
        expect(versions.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
        expect(dbs[0]?.kind).toBe('postgres');
      } finally {
        for (const d of dbs) await d.close();
        await dropSchema(own);
      }
    });
  });
}
