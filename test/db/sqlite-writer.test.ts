import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteUsageWriter } from '../../src/db/sqlite-writer.js';

let dir: string;
let path: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nanogate-writer-'));
  path = join(dir, 'w.db');
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL)');
  db.close();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const rows = () => {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare('SELECT id, n FROM t ORDER BY id').all();
  } finally {
    db.close();
  }
};

describe('SqliteUsageWriter', () => {
  it('commits each batch from its thread, seen by other connections once the promise resolves', async () => {
    const writer = new SqliteUsageWriter({ path, insertSql: 'INSERT INTO t (id, n) VALUES (?, ?)', busyTimeoutMs: 1000 });
    await writer.insert([['a', 1], ['b', 2]]);
    expect(rows()).toEqual([{ id: 'a', n: 1 }, { id: 'b', n: 2 }]);
    await writer.close();
  });

  it('rejects a batch the database refuses, keeps none of it, and goes on with the next', async () => {
    const writer = new SqliteUsageWriter({ path, insertSql: 'INSERT INTO t (id, n) VALUES (?, ?)', busyTimeoutMs: 1000 });
    await expect(writer.insert([['a', 1], ['b', null]])).rejects.toThrow(/NOT NULL/);
    expect(rows()).toEqual([]);
    await writer.insert([['c', 3]]);
    expect(rows()).toEqual([{ id: 'c', n: 3 }]);
    await writer.close();
  });

  it('fails the batch when its thread cannot start, and starts a new thread for the next', async () => {
    const broken = new SqliteUsageWriter({ path, insertSql: 'INSERT INTO no_such_table VALUES (?)', busyTimeoutMs: 1000 });
    await expect(broken.insert([['x']])).rejects.toThrow();
    await expect(broken.insert([['y']])).rejects.toThrow();
    await broken.close();
  });

  it('finishes the batches in flight before it closes', async () => {
    const writer = new SqliteUsageWriter({ path, insertSql: 'INSERT INTO t (id, n) VALUES (?, ?)', busyTimeoutMs: 1000 });
    const writes = Array.from({ length: 20 }, (_, i) => writer.insert([[`k${String(i).padStart(2, '0')}`, i]]));
    await writer.close();
    await Promise.all(writes);
    expect(rows()).toHaveLength(20);
  });
});

describe('SqliteUsageWriter in a process of its own', () => {
  it('lets the process finish closing it when nothing else keeps the process alive', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = `
      import { SqliteUsageWriter } from ${JSON.stringify(new URL('../../src/db/sqlite-writer.ts', import.meta.url).href)};
      const writer = new SqliteUsageWriter({ path: ${JSON.stringify(path)}, insertSql: 'INSERT INTO t (id, n) VALUES (?, ?)', busyTimeoutMs: 1000 });
      await writer.insert([['a', 1]]);
      await writer.close();
      console.log('closed');
    `;
    const out = execFileSync(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out.trim()).toBe('closed');
  });
});
