/**
 * The BatchStore part of the Database contract (#16), run inside databaseContract on every
 * engine: batches with their admission against enqueued tokens, files, upload sessions, leases.
 */
import { describe, expect, it } from 'vitest';
import type { StoredBatch, StoredBatchFile, StoredUploadSession } from '../../src/db/batch-store.js';
import type { Database } from '../../src/db/database.js';

export function batch(name: string, over: Partial<StoredBatch> = {}): StoredBatch {
  return {
    name,
    tenantId: 'a',
    keyId: 'key_a',
    projectId: 'p1',
    model: 'gemini-3-pro-image',
    googleName: null,
    state: 'SUBMITTING',
    enqueuedTokens: 100,
    active: true,
    settledAtMs: null,
    deletedAtMs: null,
    createdAtMs: 1_000,
    updatedAtMs: 1_000,
    doc: { displayName: 'posters', requestCount: 2 },
    ...over,
  };
}

function file(name: string, over: Partial<StoredBatchFile> = {}): StoredBatchFile {
  return {
    name,
    tenantId: 'a',
    keyId: 'key_a',
    projectId: 'p1',
    googleName: `files/g-${name.slice(6)}`,
    purpose: 'batch',
    createdAtMs: 1_000,
    expiresAtMs: 200_000,
    deletedAtMs: null,
    doc: { mimeType: 'application/jsonl', sizeBytes: '12' },
    ...over,
  };
}

function session(id: string, over: Partial<StoredUploadSession> = {}): StoredUploadSession {
  return { id, tenantId: 'a', keyId: 'key_a', projectId: 'p1', receivedBytes: 0, createdAtMs: 1_000, expiresAtMs: 90_000, doc: { googleUploadUrl: '/upload/x' }, ...over };
}

export function batchStoreContract(getDb: () => Database, open: () => Promise<Database>): void {
  describe('batches', () => {
    it('admits batches while the active ones of a project and model stay within the enqueued-token limit', async () => {
      const db = getDb();
      expect(await db.admitBatch(batch('batches/1', { enqueuedTokens: 600 }), 1_000)).toEqual({ admitted: true });
      expect(await db.admitBatch(batch('batches/2', { enqueuedTokens: 401 }), 1_000)).toEqual({ admitted: false, enqueuedTokens: 600 });
      // Other models, other projects and finished batches do not count.
      expect(await db.admitBatch(batch('batches/3', { enqueuedTokens: 900, model: 'gemini-nano-banana-2.1' }), 1_000)).toEqual({ admitted: true });
      expect(await db.admitBatch(batch('batches/4', { enqueuedTokens: 900, projectId: 'p2' }), 1_000)).toEqual({ admitted: true });
      expect(await db.admitBatch(batch('batches/5', { enqueuedTokens: 400 }), 1_000)).toEqual({ admitted: true });
      await db.updateBatch('batches/1', { active: false, state: 'BATCH_STATE_SUCCEEDED' }, 2_000);
      expect(await db.admitBatch(batch('batches/6', { enqueuedTokens: 600 }), 1_000)).toEqual({ admitted: true });
      // Without a limit anything is admitted.
      expect(await db.admitBatch(batch('batches/7', { enqueuedTokens: 10_000_000 }), undefined)).toEqual({ admitted: true });
      expect((await db.getBatch('batches/2'))).toBeUndefined();
    });

    it('admits exactly up to the limit when many admissions race', async () => {
      const db = getDb();
      const other = await open();
      const tries = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? db : other).admitBatch(batch(`batches/r${i}`, { enqueuedTokens: 100 }), 500));
      const results = await Promise.all(tries);
      expect(results.filter((r) => r.admitted)).toHaveLength(5);
    });

    it('reads back every field, updates the given ones and keeps the rest', async () => {
      const db = getDb();
      const b = batch('batches/x', { doc: { displayName: 'é "quoted" \u0000', hold: { amountNanoUsd: '123456789012345678' } } });
      await db.admitBatch(b, undefined);
      expect(await db.getBatch('batches/x')).toEqual({ ...b, doc: { displayName: 'é "quoted" ', hold: { amountNanoUsd: '123456789012345678' } } });
      const updated = await db.updateBatch('batches/x', { googleName: 'batches/g1', state: 'BATCH_STATE_PENDING' }, 5_000);
      expect(updated).toMatchObject({ googleName: 'batches/g1', state: 'BATCH_STATE_PENDING', active: true, updatedAtMs: 5_000, deletedAtMs: null });
      expect(updated?.doc['displayName']).toBe('é "quoted" ');
      expect(await db.updateBatch('batches/x', { deletedAtMs: 6_000, doc: { displayName: 'new' } }, 6_000)).toMatchObject({ deletedAtMs: 6_000, googleName: 'batches/g1', doc: { displayName: 'new' } });
      expect(await db.updateBatch('batches/none', { state: 'X' }, 1)).toBeUndefined();
    });

    it('refuses a second batch with a taken name', async () => {
      const db = getDb();
      await db.admitBatch(batch('batches/dup'), undefined);
      await expect(db.admitBatch(batch('batches/dup'), undefined)).rejects.toThrow();
    });

    it('settles a batch once, whoever asks', async () => {
      const db = getDb();
      await db.admitBatch(batch('batches/s'), undefined);
      const other = await open();
      const wins = await Promise.all([db.markBatchSettled('batches/s', 9_000, { settled: 1 }), other.markBatchSettled('batches/s', 9_001, { settled: 2 })]);
      expect(wins.filter(Boolean)).toHaveLength(1);
      const settled = await db.getBatch('batches/s');
      expect(settled?.active).toBe(false);
      expect(settled?.settledAtMs === 9_000 || settled?.settledAtMs === 9_001).toBe(true);
      expect(await db.unsettledBatches(10)).toEqual([]);
    });

    it("lists a tenant's live batches newest first, page by page, and the unsettled ones of everyone oldest first", async () => {
      const db = getDb();
      for (const [i, t] of [[1, 'a'], [2, 'a'], [3, 'b'], [4, 'a'], [5, 'a']] as const) await db.admitBatch(batch(`batches/l${i}`, { tenantId: t, createdAtMs: 1_000 * i }), undefined);
      await db.admitBatch(batch('batches/l6', { createdAtMs: 4_000 }), undefined);
      await db.updateBatch('batches/l2', { deletedAtMs: 9 }, 9);
      const first = await db.listBatches({ tenantId: 'a', limit: 2 });
      expect(first.map((b) => b.name)).toEqual(['batches/l5', 'batches/l6']);
      const last = first.at(-1)!;
      const next = await db.listBatches({ tenantId: 'a', limit: 10, before: { createdAtMs: last.createdAtMs, name: last.name } });
      expect(next.map((b) => b.name)).toEqual(['batches/l4', 'batches/l1']);
      await db.markBatchSettled('batches/l1', 1, {});
      expect((await db.unsettledBatches(3)).map((b) => b.name)).toEqual(['batches/l2', 'batches/l3', 'batches/l4']);
    });

    it('forgets a batch that never reached Google', async () => {
      const db = getDb();
      await db.admitBatch(batch('batches/gone'), undefined);
      await db.removeBatch('batches/gone');
      expect(await db.getBatch('batches/gone')).toBeUndefined();
    });
  });

  describe('batch files', () => {
    it('stores a file once, reads it back, lists live ones newest first and tombstones on delete', async () => {
      const db = getDb();
      expect(await db.createBatchFile(file('files/f1'))).toBe(true);
      expect(await db.createBatchFile(file('files/f1', { tenantId: 'b' }))).toBe(false);
      expect(await db.getBatchFile('files/f1')).toEqual(file('files/f1'));
      await db.createBatchFile(file('files/f2', { createdAtMs: 2_000, purpose: 'batch_output' }));
      await db.createBatchFile(file('files/f3', { createdAtMs: 3_000, tenantId: 'b' }));
      expect((await db.listBatchFiles({ tenantId: 'a', limit: 10 })).map((f) => f.name)).toEqual(['files/f2', 'files/f1']);
      expect((await db.listBatchFiles({ tenantId: 'a', limit: 10, purpose: 'batch' })).map((f) => f.name)).toEqual(['files/f1']);
      expect((await db.listBatchFiles({ tenantId: 'a', limit: 10, before: { createdAtMs: 2_000, name: 'files/f2' } })).map((f) => f.name)).toEqual(['files/f1']);
      expect(await db.deleteBatchFile('files/f1', 5_000)).toBe(true);
      expect(await db.deleteBatchFile('files/f1', 5_001)).toBe(false);
      expect((await db.getBatchFile('files/f1'))?.deletedAtMs).toBe(5_000);
      expect((await db.listBatchFiles({ tenantId: 'a', limit: 10 })).map((f) => f.name)).toEqual(['files/f2']);
    });
  });

  describe('upload sessions', () => {
    it('advances a session only from the offset it is at, so one of two racing chunks wins', async () => {
      const db = getDb();
      await db.createUploadSession(session('u1'));
      const other = await open();
      const results = await Promise.all([db.advanceUploadSession('u1', 0, 10, { scan: 'a' }), other.advanceUploadSession('u1', 0, 10, { scan: 'b' })]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await db.advanceUploadSession('u1', 0, 20, {})).toBe(false);
      expect(await db.advanceUploadSession('u1', 10, 25, { scan: 'c' })).toBe(true);
      expect(await db.getUploadSession('u1')).toEqual(session('u1', { receivedBytes: 25, doc: { scan: 'c' } }));
      await db.deleteUploadSession('u1');
      expect(await db.getUploadSession('u1')).toBeUndefined();
    });
  });

  describe('leases', () => {
    it('gives a lease to one holder until it lapses or is released, and lets the holder renew it', async () => {
      const db = getDb();
      const other = await open();
      const got = await Promise.all([db.acquireLease('follower', 'one', 1_000, 10_000), other.acquireLease('follower', 'two', 1_000, 10_000)]);
      expect(got.filter(Boolean)).toHaveLength(1);
      const [holder, rival] = got[0] ? ['one', 'two'] : ['two', 'one'];
      expect(await db.acquireLease('follower', holder, 5_000, 10_000)).toBe(true);
      expect(await db.acquireLease('follower', rival, 14_999, 10_000)).toBe(false);
      expect(await db.acquireLease('follower', rival, 15_000, 10_000)).toBe(true);
      await db.releaseLease('follower', holder);
      expect(await db.acquireLease('follower', holder, 16_000, 10_000)).toBe(false);
      await db.releaseLease('follower', rival);
      expect(await db.acquireLease('follower', holder, 16_000, 10_000)).toBe(true);
    });
  });
}
