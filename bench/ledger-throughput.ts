/**
 * Usage ledger write throughput (records/s) with batches of 1000, a part of `npm run bench`: on
 * SQLite (a file in a temp folder) and PostgreSQL (TEST_DATABASE_URL, else a local server, else a
 * private initdb cluster, as the test suite finds one, in a throwaway database).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { openDatabase, type Database } from '../src/db/database.js';
import { pacificDay } from '../src/time/pacific.js';
import { UsageLedger } from '../src/usage/ledger.js';
import { newRecordId, type UsageRecord } from '../src/usage/record.js';
import { createThrowawayPostgres } from '../test/support/postgres.js';

const ROUNDS = 3;
const BATCH = 1_000;

export interface LedgerRow {
  database: 'sqlite' | 'postgresql';
  records: number;
  /** Records/s of each round: one flush() of `records` records in batches of BATCH. */
  rates: number[];
  medianPerSecond: number;
  /** Why the database was not measured (PostgreSQL unreachable and not startable). */
  skipped?: string;
}

function makeRecords(n: number, round: number, startMs: number): UsageRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const timeMs = startMs + i * 37;
    return {
      // Ids as the relay makes them, so the primary-key index sees the same inserts.
      id: newRecordId(timeMs),
      timeMs,
      day: pacificDay(timeMs),
      requestId: `req_${round}_${i}`,
      tenantId: `tenant_${i % 20}`,
      keyId: `key_${i % 50}`,
      projectId: `project_${i % 3}`,
      route: i % 2 ? 'openai.generations' : 'native.generateContent',
      modelAsked: 'nano-banana-pro',
      model: 'gemini-3-pro-image',
      imageSize: '1K',
      imagesReturned: 1,
      inputTokens: 120 + (i % 300),
      inputTextTokens: 120,
      inputImageTokens: i % 300,
      outputImageTokens: 1120,
      outputTextTokens: 12,
      thinkingTokens: 180,
      costNanoUsd: 134_000_000 + i,
      httpStatus: 200,
      finishReason: 'STOP',
      latencyMs: 9_000 + (i % 4_000),
      user: i % 5 ? null : `user-${i}`,
      batch: false,
      flags: i % 7 ? [] : ['streamed'],
      usageMetadata: {
        promptTokenCount: 120 + (i % 300),
        candidatesTokenCount: 1132,
        thoughtsTokenCount: 180,
        totalTokenCount: 1432 + (i % 300),
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: 120 }],
        candidatesTokensDetails: [{ modality: 'IMAGE', tokenCount: 1120 }],
      },
      priceVersion: 'bench',
    };
  });
}

async function measure(database: LedgerRow['database'], db: Database, records: number): Promise<LedgerRow> {
  await db.migrate();
  const logger = pino({ level: 'warn' });
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const batch = makeRecords(records, round, Date.parse('2025-06-01T00:00:00Z') + round * 86_400_000);
    // A long interval: the timer never fires, flush() does all the writing being measured.
    const ledger = new UsageLedger({ db, logger, maxBatch: BATCH, maxBacklog: records + 1, flushIntervalMs: 3_600_000 });
    for (const r of batch) ledger.record(r);
    const t0 = performance.now();
    await ledger.flush();
    const seconds = (performance.now() - t0) / 1000;
    await ledger.close();
    rates.push(records / seconds);
  }
  const stored = await db.queryUsage({ fromDay: '2025-05-01', toDay: '2025-12-31', groupBy: [] });
  if (Number(stored[0]?.requests ?? 0) !== records * ROUNDS) throw new Error(`${database}: ${stored[0]?.requests ?? 0} records stored, ${records * ROUNDS} written`);
  const sorted = [...rates].sort((a, b) => a - b);
  return { database, records, rates, medianPerSecond: sorted[Math.floor(sorted.length / 2)]! };
}

/** SQLite, then PostgreSQL when one is reachable or can be started. */
export async function measureLedger(records: number): Promise<LedgerRow[]> {
  const rows: LedgerRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-bench-'));
  try {
    const sqlite = await openDatabase({ sqlitePath: join(dir, 'nanogate.db') });
    try {
      rows.push(await measure('sqlite', sqlite, records));
    } finally {
      await sqlite.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const pg = await createThrowawayPostgres(process.env.TEST_DATABASE_URL);
  if (!pg) {
    rows.push({ database: 'postgresql', records, rates: [], medianPerSecond: Number.NaN, skipped: 'no PostgreSQL reachable or startable' });
    return rows;
  }
  try {
    const db = await openDatabase({ url: pg.url, sqlitePath: 'unused' });
    try {
      rows.push(await measure('postgresql', db, records));
    } finally {
      await db.close();
    }
  } finally {
    await pg.drop();
  }
  return rows;
}
