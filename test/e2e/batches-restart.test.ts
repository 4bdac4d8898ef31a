/**
 * #16: a gateway killed (SIGKILL) in the middle of settling a batch loses nothing and records
 * nothing twice. The built gateway runs as a child process following its batches on a short
 * interval; the mock reads the result file out slowly, the test waits (polling the child's
 * database, with a deadline) until part of the records are in, kills the child, starts another
 * on the same database, and checks every request has exactly one record once it has settled.
 */
import { DatabaseSync } from 'node:sqlite';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { batchConfigYaml, TENANT_KEY } from '../support/batch-gateway.js';
import { pollUntil, sqliteRecords, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';

let mock: MockGoogle;
let dir: string;
const children: GatewayProcess[] = [];

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: ['test-google-key'], imageBytes: { default: 4 * 1024 } });
  dir = mkdtempSync(join(tmpdir(), 'batches-restart-'));
});
afterAll(async () => {
  for (const c of children) await c.dispose();
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});

function batchRow(dbPath: string, name: string): { settled_at_ms: number | null; state: string } | undefined {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    return db.prepare('SELECT settled_at_ms, state FROM batch_jobs WHERE name = ?').get(name) as { settled_at_ms: number | null; state: string } | undefined;
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

describe('a gateway killed mid-settlement', () => {
  it('is followed by the next one, which records each request exactly once', { timeout: 120_000 }, async () => {
    const dbPath = join(dir, 'shared.db');
    // Both children use this one file; polls every 100 ms; a dead holder's lease lapses in 1 s.
    const config = `${batchConfigYaml(mock.url, dbPath)}batches: { pollIntervalMs: 100, leaseMs: 1000 }\n`;
    const first = await startGatewayProcess({ configYaml: config });
    children.push(first);

    const n = 2_000;
    const path = join(dir, 'in.jsonl');
    writeFileSync(path, `${Array.from({ length: n }, (_, i) => JSON.stringify({ key: `k${i}`, request: { contents: [{ parts: [{ text: `banana ${i}` }] }] } })).join('\n')}\n`);
    const ai = new GoogleGenAI({ apiKey: TENANT_KEY, httpOptions: { baseUrl: first.url } });
    const file = await ai.files.upload({ file: path, config: { mimeType: 'application/jsonl' } });
    const batch = await ai.batches.create({ model: 'nano-banana-2-lite', src: file.name! });
    const name = batch.name!;

    // The result file trickles out: 25 lines every 40 ms, some 3 s in all.
    mock.batches.setResultPacing({ lines: 25, intervalMs: 40 });
    mock.batches.finishBatches();
    const mine = () => sqliteRecords(dbPath).filter((r) => r.request_id === name);
    const partial = await pollUntil(() => {
      const count = mine().length;
      return count > 0 ? count : undefined;
    }, 30_000);
    expect(partial, first.describe()).toBeDefined();
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    const atKill = mine().length;
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(n);
    expect(batchRow(dbPath, name)?.settled_at_ms).toBeNull();

    mock.batches.setResultPacing(undefined);
    const second = await startGatewayProcess({ configYaml: config });
    children.push(second);
    const settled = await pollUntil(() => (batchRow(dbPath, name)?.settled_at_ms ? true : undefined), 30_000);
    expect(settled, second.describe()).toBe(true);

    const rows = mine();
    expect(rows).toHaveLength(n);
    expect(new Set(rows.map((r) => r.id)).size).toBe(n);
    expect(rows.every((r) => r.http_status === 200 && Number(r.cost_nano_usd) > 0)).toBe(true);
    console.info(`restart mid-settlement: ${atKill} of ${n} records written when the first gateway was killed; ${rows.length} after the second settled`);
  });
});
