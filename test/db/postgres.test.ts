import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { DatabaseUnavailableError, openDatabase } from '../../src/db/database.js';
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

  describe('PostgreSQL faults, as the gateway sees them', () => {
    it('re-applies the schema when the database was recreated empty while the gateway ran, and ping says so', async () => {
      const own = `dbrecreate_${process.pid}`;
      await recreateSchema(own);
      const db = await openDatabase({ url: schemaUrl(own), sqlitePath: 'unused' });
      try {
        await db.migrate();
        await db.createTenant({ id: 'a', project: 'p', limits: {}, budget: {}, disabled: false }, 1);
        await recreateSchema(own);
        expect(await db.schemaVersion()).toBe(0);
        await db.ping();
        expect(await db.schemaVersion()).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
        // And an operation that finds a table missing re-applies it too, then succeeds.
        await recreateSchema(own);
        expect(await db.listTenants()).toEqual([]);
      } finally {
        await db.close();
        await dropSchema(own);
      }
    });

    it('rejects with DatabaseUnavailableError, not a driver error, when the server cannot be reached', async () => {
      const db = await openDatabase({ url: 'postgres://postgres@127.0.0.1:1/none?connect_timeout=2', sqlitePath: 'unused' });
      try {
        await expect(db.listTenants()).rejects.toBeInstanceOf(DatabaseUnavailableError);
        await expect(db.ping()).rejects.toBeInstanceOf(DatabaseUnavailableError);
      } finally {
        await db.close();
      }
    });
  });
}
