/**
 * #16: a finished batch is metered exactly once, whichever instances follow it, and a big
 * result file is read as a stream.
 *
 * - Two gateways on one PostgreSQL and one Redis: one follower works at a time (the lease), and
 *   even two settlements of the same batch run at once (what a lapsed lease could allow) write
 *   each record once and settle the budget hold once.
 * - A 10,000-request result file is settled while what the reader holds stays a few KB and
 *   the process heap stays flat, far below the file's size.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GoogleGenAI } from '@google/genai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { settleBatch } from '../../src/batch/settlement.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { BUDGET_TENANT_KEY, TENANT_KEY, startBatchGateway, type BatchGateway } from '../support/batch-gateway.js';
import { withPgClient } from '../support/postgres.js';

const pgUrl = inject('pgUrl');
const redisUrl = inject('redisUrl');

let mock: MockGoogle;
let dir: string;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: ['test-google-key'], imageBytes: { default: 48 * 1024 } });
  dir = mkdtempSync(join(tmpdir(), 'batches-settle-'));
});
afterAll(async () => {
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});

const line = (i: number) => JSON.stringify({ key: `k${i}`, request: { contents: [{ parts: [{ text: `banana number ${i}` }] }] } });

async function uploadLines(url: string, key: string, n: number): Promise<string> {
  const path = join(dir, `in-${n}-${Date.now()}.jsonl`);
  writeFileSync(path, `${Array.from({ length: n }, (_, i) => line(i)).join('\n')}\n`);
  const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: url } });
  const file = await ai.files.upload({ file: path, config: { mimeType: 'application/jsonl' } });
  return file.name!;
}

/** The run's PostgreSQL, narrowed to a schema of this file's own (other suites' followers must not take its lease). */
function schemaUrl(schema: string): string {
  const u = new URL(pgUrl);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

describe.skipIf(!pgUrl)('two instances on one PostgreSQL and one Redis', () => {
  const schema = `batches_${process.pid}`;
  let a: BatchGateway;
  let b: BatchGateway;

  beforeAll(async () => {
    await withPgClient(pgUrl, async (c) => {
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.query(`CREATE SCHEMA ${schema}`);
    });
    a = await startBatchGateway({ upstreamUrl: mock.url, databaseUrl: schemaUrl(schema), redisUrl });
    b = await startBatchGateway({ upstreamUrl: mock.url, databaseUrl: schemaUrl(schema), redisUrl });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await withPgClient(pgUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).catch(() => {});
  });

  it('lets one follower at a time work, and settles a batch exactly once even when both instances settle it at once', async () => {
    const fileName = await uploadLines(a.url, BUDGET_TENANT_KEY, 20);
    // Created on one instance, seen on the other (the database is shared).
    const created = await new GoogleGenAI({ apiKey: BUDGET_TENANT_KEY, httpOptions: { baseUrl: a.url } }).batches.create({ model: 'nano-banana-2-lite', src: fileName });
    const seen = await new GoogleGenAI({ apiKey: BUDGET_TENANT_KEY, httpOptions: { baseUrl: b.url } }).batches.get({ name: created.name! });
    expect(seen.state).toBe('JOB_STATE_PENDING');
    const owners = { tenantId: 'frugal', tenantBudget: { dailyUsd: 0.5 }, keyId: '', keyBudget: undefined };
    const nowMs = Date.now();
    const before = await a.gateway.batches.service.deps.budgets.read(owners, nowMs);
    expect(before.tenant.daily.heldNanoUsd).toBeGreaterThan(0n);

    // Both tick at once: only the lease holder works.
    mock.batches.advanceBatches();
    const ticks = await Promise.all([a.gateway.batches.follower.tick(), b.gateway.batches.follower.tick()]);
    expect(ticks.filter((t) => t.leader)).toHaveLength(1);
    mock.batches.advanceBatches();

    // Both settle the finished batch at the same moment, past any lease.
    const rowA = await a.gateway.batches.service.refresh((await a.gateway.db.getBatch(created.name!))!);
    expect(rowA.state).toBe('BATCH_STATE_SUCCEEDED');
    const outcomes = await Promise.all([settleBatch(rowA, a.gateway.batches.settlement, { chunkRecords: 7 }), settleBatch(rowA, b.gateway.batches.settlement, { chunkRecords: 5 })]);
    expect(outcomes.filter((o) => o.settled)).toHaveLength(1);
    const records = await a.gateway.db.usageByRequest(created.name!);
    expect(records).toHaveLength(20);
    expect(new Set(records.map((r) => r.id)).size).toBe(20);
    const total = records.reduce((s, r) => s + BigInt(r.costNanoUsd), 0n);
    const won = outcomes.find((o) => o.settled);
    expect(won?.settled && won.costNanoUsd).toBe(total);

    // The hold was replaced by the cost once: spent grew by exactly the batch's cost.
    const after = await b.gateway.batches.service.deps.budgets.read(owners, nowMs);
    expect(after.tenant.daily.heldNanoUsd).toBe(before.tenant.daily.heldNanoUsd - BigInt((await a.gateway.db.getBatch(created.name!))!.doc['holdNanoUsd'] as string));
    expect(after.tenant.daily.spentNanoUsd - before.tenant.daily.spentNanoUsd).toBe(total);

    // And the followers find nothing more to do.
    const again = await Promise.all([a.gateway.batches.follower.tick(), b.gateway.batches.follower.tick()]);
    expect(again.reduce((s, t) => s + t.settled, 0)).toBe(0);
    expect(await a.gateway.db.usageByRequest(created.name!)).toHaveLength(20);
  });

  it('takes the chunks of one resumable upload on either instance, in order only, for its own tenant only', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => line(i));
    const bytes = Buffer.from(`${lines.join('\n')}\n`);
    const start = await request(`${a.url}/upload/v1beta/files`, {
      method: 'POST',
      headers: {
        'x-goog-api-key': TENANT_KEY,
        'content-type': 'application/json',
        'x-goog-upload-protocol': 'resumable',
        'x-goog-upload-command': 'start',
        'x-goog-upload-header-content-length': String(bytes.length),
        'x-goog-upload-header-content-type': 'application/jsonl',
      },
      body: JSON.stringify({ file: { displayName: 'split' } }),
    });
    expect(start.statusCode).toBe(200);
    await start.body.dump();
    const session = new URL(String(start.headers['x-goog-upload-url']));
    const chunk = (base: string, key: string, offset: number, body: Buffer, command: string) =>
      request(`${base}${session.pathname}${session.search}`, { method: 'POST', headers: { 'x-goog-api-key': key, 'x-goog-upload-command': command, 'x-goog-upload-offset': String(offset) }, body });
    const cut = 1_000; // mid-line: the count resumes from the stored state on the other instance
    const first = await chunk(b.url, TENANT_KEY, 0, bytes.subarray(0, cut), 'upload');
    expect(first.statusCode).toBe(200);
    expect(first.headers['x-goog-upload-status']).toBe('active');
    await first.body.dump();
    const stranger = await chunk(a.url, BUDGET_TENANT_KEY, cut, bytes.subarray(cut), 'upload, finalize');
    expect(stranger.statusCode).toBe(404);
    await stranger.body.dump();
    const wrongOffset = await chunk(a.url, TENANT_KEY, 0, bytes.subarray(cut), 'upload, finalize');
    expect(wrongOffset.statusCode).toBe(400);
    await wrongOffset.body.dump();
    const last = await chunk(a.url, TENANT_KEY, cut, bytes.subarray(cut), 'upload, finalize');
    expect(last.statusCode).toBe(200);
    expect(last.headers['x-goog-upload-status']).toBe('final');
    const { file } = (await last.body.json()) as { file: { name: string; sizeBytes: string } };
    expect(file.sizeBytes).toBe(String(bytes.length));
    const stored = await b.gateway.db.getBatchFile(file.name);
    expect(stored?.doc['stats']).toMatchObject({ requests: 30 });
    const atGoogle = mock.batches.files().find((f) => `files/${f.id}` === stored?.googleName);
    expect(atGoogle?.bytes.equals(bytes)).toBe(true);
  });
});

describe('a 10,000-request result file', () => {
  let gw: BatchGateway;
  beforeAll(async () => {
    gw = await startBatchGateway({ upstreamUrl: mock.url, tier: 'tier3' });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('is settled as a stream: the reader holds a few KB and the heap stays far below the file', { timeout: 120_000 }, async () => {
    const n = 10_000;
    const fileName = await uploadLines(gw.url, TENANT_KEY, n);
    const created = await new GoogleGenAI({ apiKey: TENANT_KEY, httpOptions: { baseUrl: gw.url } }).batches.create({ model: 'nano-banana-2-lite', src: fileName });
    mock.batches.finishBatches();
    const row = await gw.gateway.batches.service.refresh((await gw.gateway.db.getBatch(created.name!))!);
    expect(row.state).toBe('BATCH_STATE_SUCCEEDED');

    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    let retainedPeak = 0;
    let bytes = 0;
    let samples = 0;
    const outcome = await settleBatch(row, gw.gateway.batches.settlement, {
      observe: (reader) => {
        retainedPeak = Math.max(retainedPeak, reader.retainedBytes());
        bytes = reader.bytes;
        if (++samples % 64 === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      },
    });
    expect(outcome).toMatchObject({ settled: true, records: n });
    const heapGrowth = heapPeak - heapBefore;
    // Figures for the report (#16): the file streamed, what the reader held, how the heap moved.
    console.info(`10,000-request result file: ${(bytes / 1e6).toFixed(1)} MB streamed; reader held at most ${retainedPeak} bytes; heap grew at most ${(heapGrowth / 1e6).toFixed(1)} MB`);
    expect(bytes).toBeGreaterThan(n * 48 * 1024);
    expect(retainedPeak).toBeLessThan(8 * 1024);
    // Holding the file (or its records) whole would take its size; the stream takes a bounded amount.
    expect(heapGrowth).toBeLessThan(bytes / 4);
    const records = await gw.gateway.db.usageByRequest(created.name!);
    expect(records).toHaveLength(n);
  });
});
