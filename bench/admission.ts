/**
 * Admission cost: admissions/s and latency percentiles for the memory store and a private,
 * local redis-server, sequential (latency) and 64 in flight (throughput). Also counts the
 * scripts Redis ran per admission, to show it is one round trip (one EVALSHA; the client
 * sends nothing else on the admitting path).
 *
 * Run: npx tsc -p tsconfig.json && npx node dist-all/bench/admission.js
 * (Node's type stripping does not map the `.js` import specifiers onto `.ts` files.)
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { MODELS } from '../src/models/catalog.js';
import { MemoryQuotaStore } from '../src/quota/memory-store.js';
import { QuotaService, type QuotaProject } from '../src/quota/quota-service.js';
import { RedisQuotaStore } from '../src/quota/redis-store.js';
import { connectRedis } from '../src/quota/store.js';
import type { QuotaStore } from '../src/quota/store.js';
import { systemClock } from '../src/time/clock.js';
import { startRedisServer } from '../test/support/redis-server.js';

const SEQUENTIAL = 20_000;
const CONCURRENT = 50_000;
const IN_FLIGHT = 64;
const WARMUP = 2_000;

const model = MODELS[0]!;
// Ten projects and five tenants each, limits high enough that nothing is refused: the
// bench measures the admitting path, which is the one every request takes.
const projects: QuotaProject[] = Array.from({ length: 10 }, (_, i) => ({
  id: `bench-${i}`,
  tier: 'tier3',
  limits: { [model.id]: { rpm: 10_000_000, tpm: 1_000_000_000, rpd: 100_000_000, ipm: 10_000_000 } },
}));

function admitOne(q: QuotaService, i: number) {
  return q.admit({
    project: projects[i % projects.length]!,
    tenantId: `tenant-${i % 5}`,
    tenantLimits: { rpm: 10_000_000 },
    model,
    estimatedInputTokens: 1_200,
    images: 1,
    nowMs: systemClock.nowMs(),
  });
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Row {
  store: string;
  mode: string;
  admissions: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  roundTrips: string;
}

async function sequential(store: string, q: QuotaService): Promise<Row> {
  for (let i = 0; i < WARMUP; i++) await admitOne(q, i);
  const latencies: number[] = [];
  const start = performance.now();
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t = performance.now();
    await admitOne(q, i);
    latencies.push(performance.now() - t);
  }
  const elapsedMs = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return { store, mode: 'sequential', admissions: SEQUENTIAL, perSecond: (SEQUENTIAL / elapsedMs) * 1000, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), roundTrips: '' };
}

async function concurrent(store: string, q: QuotaService): Promise<Row> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < CONCURRENT) {
        const i = next++;
        const t = performance.now();
        await admitOne(q, i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return { store, mode: `${IN_FLIGHT} in flight`, admissions: CONCURRENT, perSecond: (CONCURRENT / elapsedMs) * 1000, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), roundTrips: '' };
}

/** Script calls received from clients (commands a script runs inside count apart, under their own names). */
async function scriptCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) calls += Number(m[2]);
  return calls;
}

async function benchStore(name: string, store: QuotaStore, admin?: Redis): Promise<Row[]> {
  const q = new QuotaService({ store });
  const before = admin ? await scriptCalls(admin) : 0;
  const seq = await sequential(name, q);
  const afterSeq = admin ? await scriptCalls(admin) : 0;
  const conc = await concurrent(name, q);
  const afterConc = admin ? await scriptCalls(admin) : 0;
  if (admin) {
    seq.roundTrips = ((afterSeq - before) / (SEQUENTIAL + WARMUP)).toFixed(3);
    conc.roundTrips = ((afterConc - afterSeq) / CONCURRENT).toFixed(3);
  }
  return [seq, conc];
}

function printTable(rows: readonly Row[]): void {
  const header = ['store', 'mode', 'admissions', 'admissions/s', 'p50 ms', 'p99 ms', 'scripts/admission'];
  const lines = rows.map((r) => [r.store, r.mode, String(r.admissions), r.perSecond.toFixed(0), r.p50Ms.toFixed(3), r.p99Ms.toFixed(3), r.roundTrips || '-']);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const l of lines) console.log(fmt(l));
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  rows.push(...(await benchStore('memory', new MemoryQuotaStore())));

  const redis = await startRedisServer();
  const admin = new Redis(redis.url);
  try {
    const store = new RedisQuotaStore({ client: connectRedis(redis.url), keyPrefix: 'bench:' });
    rows.push(...(await benchStore('redis (local)', store, admin)));
    await store.close();
  } finally {
    await admin.quit();
    await redis.stop();
  }
  console.log(`node ${process.version}; redis-server on 127.0.0.1; ${projects.length} projects x 5 tenants; nothing refused`);
  printTable(rows);
}

await main();
