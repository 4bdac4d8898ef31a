import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
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
    expect(raw.prepare('SELECT version, name FROM schema_migrations').all().map((r) => r.version)).toEqual([1]);
    raw.close();
  });

  it('reports its kind', async () => {
    const db = await openDatabase({ sqlitePath: ':memory:' });
    expect(db.kind).toBe('sqlite');
    await db.close();
  });
});
