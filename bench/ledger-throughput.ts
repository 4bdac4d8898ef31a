/**
 * Usage ledger write throughput (records/s) with batches of 1000, on SQLite (a file in a temp
 * folder) and PostgreSQL (TEST_DATABASE_URL, else a local server, else a private initdb cluster,
 * as the test suite finds one). Not a test: it prints figures.
 *
 *   npx tsc -p tsconfig.json --outDir /tmp/nanogate-bench && node /tmp/nanogate-bench/bench/ledger-throughput.js [records]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { openDatabase, type Database } from '../src/db/database.js';
import { pacificDay } from '../src/time/pacific.js';
import { UsageLedger } from '../src/usage/ledger.js';
import type { UsageRecord } from '../src/usage/record.js';
import { createThrowawayPostgres } from '../test/support/postgres.js';

const RECORDS = Number(process.argv[2] ?? 100_000);
const ROUNDS = 3;
const BATCH = 1_000;

function makeRecords(n: number, round: number, startMs: number): UsageRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const timeMs = startMs + i * 37;
    return {
      id: `bench_${round}_${i}`,
      timeMs,
      day: pacificDay(timeMs),
      requestId: `req_${round}_${i}`,
      tenantId: `tenant_${i % 20}`,
      keyId: `key_${i % 50}`,
      projectId: `project_${i % 3}`,
      route: i % 2 ? 'openai.generations' : 'native.generateContent',
      modelAsked: 'nano-banana-pro',
      model: 'gemini-3-pro-image-preview',
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

async function measure(label: string, db: Database): Promise<void> {
  await db.migrate();
  const logger = pino({ level: 'warn' });
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const records = makeRecords(RECORDS, round, Date.parse('2025-06-01T00:00:00Z') + round * 86_400_000);
    // A long interval: the timer never fires, flush() does all the writing being measured.
    const ledger = new UsageLedger({ db, logger, maxBatch: BATCH, maxBacklog: RECORDS + 1, flushIntervalMs: 3_600_000 });
    for (const r of records) ledger.record(r);
    const t0 = performance.now();
    await ledger.flush();
    const seconds = (performance.now() - t0) / 1000;
    await ledger.close();
    rates.push(RECORDS / seconds);
  }
  const stored = await db.queryUsage({ fromDay: '2025-05-01', toDay: '2025-12-31', groupBy: [] });
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(
    `${label.padEnd(10)} ${RECORDS} records x ${ROUNDS} rounds, batches of ${BATCH}: ` +
      `${rates.map(fmt).join(' / ')} records/s (best ${fmt(Math.max(...rates))}); stored ${stored[0]?.requests ?? 0}`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'nanogate-bench-'));
try {
  const sqlite = await openDatabase({ sqlitePath: join(dir, 'nanogate.db') });
  await measure('SQLite', sqlite);
  await sqlite.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const pg = await createThrowawayPostgres(process.env.TEST_DATABASE_URL);
if (!pg) {
  console.log('PostgreSQL  skipped: none reachable or startable');
} else {
  try {
    const db = await openDatabase({ url: pg.url, sqlitePath: 'unused' });
    await measure('PostgreSQL', db);
    await db.close();
  } finally {
    await pg.drop();
  }
}
