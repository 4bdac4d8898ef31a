import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { DatabaseUnavailableError, openDatabase } from '../../src/db/database.js';
import { MIGRATIONS } from '../../src/db/migrations/index.js';
import { databaseContract } from './database.contract.js';

let dir: string | undefined;

databaseContract('SQLite (node:sqlite)', {
  async reset() {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(join(tmpdir(), 'nanogate-db-'));
  },
  open: () => openDatabase({ sqlitePath: join(dir ?? '', 'nanogate.db') }),
  async teardown() {
    if (dir) rmSync(dir, { recursive: true, force: true });
  },
});

describe('SQLite file', () => {
  const made: string[] = [];
  afterEach(() => {
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('creates the folders of its path and uses WAL with synchronous=NORMAL', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nanogate-db-'));
    made.push(root);
    const path = join(root, 'nested', 'data', 'nanogate.db');
    const db = await openDatabase({ sqlitePath: path });
    await db.migrate();
    await db.close();
    const raw = new DatabaseSync(path);
    expect(raw.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    expect(raw.prepare('SELECT version, name FROM schema_migrations').all().map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    raw.close();
  });

  it('reports its kind', async () => {
    const db = await openDatabase({ sqlitePath: ':memory:' });
    expect(db.kind).toBe('sqlite');
    await db.close();
  });
});

describe('SQLite faults, as the gateway sees them', () => {
  it('re-applies the schema when its tables were dropped while the gateway ran, and ping says so', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nanogate-db-'));
    const path = join(root, 'nanogate.db');
    const db = await openDatabase({ sqlitePath: path });
    try {
      await db.migrate();
      await db.createTenant({ id: 'a', project: 'p', limits: {}, budget: {}, disabled: false }, 1);
      const dropAll = () => {
        const other = new DatabaseSync(path);
        const tables = other.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>;
        for (const t of tables) other.exec(`DROP TABLE "${t.name}"`);
        other.close();
      };
      dropAll();
      expect(await db.schemaVersion()).toBe(0);
      await db.ping();
      expect(await db.schemaVersion()).toBeGreaterThan(0);
      dropAll();
      expect(await db.listTenants()).toEqual([]);
    } finally {
      await db.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('rejects with DatabaseUnavailableError once the database cannot be used', async () => {
    const db = await openDatabase({ sqlitePath: ':memory:' });
    await db.migrate();
    await db.close();
    await expect(db.listTenants()).rejects.toBeInstanceOf(DatabaseUnavailableError);
    await expect(db.ping()).rejects.toBeInstanceOf(DatabaseUnavailableError);
  });
});
