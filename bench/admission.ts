/**
 * Admission cost, a part of `npm run bench`: admissions/s and latency percentiles for the memory
 * store and a private, local redis-server, sequential (latency) and 64 in flight (throughput).
 * Also counts the scripts Redis ran per admission, to show it is one round trip (one EVALSHA;
 * the client sends nothing else on the admitting path).
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { loadModelTable } from '../src/models/model-table.js';
import { MemoryQuotaStore } from '../src/quota/memory-store.js';
import { QuotaService, type QuotaProject } from '../src/quota/quota-service.js';
import { RedisQuotaStore } from '../src/quota/redis-store.js';
import { connectRedis } from '../src/quota/redis-connection.js';
import type { QuotaStore } from '../src/quota/store.js';
import { systemClock } from '../src/time/clock.js';
import { startRedisServer } from '../test/support/redis-server.js';

const IN_FLIGHT = 64;
const WARMUP = 2_000;

export interface AdmissionSizes {
  /** Admissions timed one at a time (the latency figures). */
  sequential: number;
  /** Admissions made IN_FLIGHT at a time (the throughput figures). */
  concurrent: number;
}

const model = loadModelTable().models[0]!;
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

export interface AdmissionRow {
  store: 'memory' | 'redis';
  mode: string;
  admissions: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Scripts Redis ran per admission (Redis only). */
  scriptsPerAdmission: number | null;
}

async function sequential(store: AdmissionRow['store'], q: QuotaService, count: number): Promise<AdmissionRow> {
  for (let i = 0; i < WARMUP; i++) await admitOne(q, i);
  const latencies: number[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await admitOne(q, i);
    latencies.push(performance.now() - t);
  }
  const elapsedMs = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return { store, mode: 'sequential', admissions: count, perSecond: (count / elapsedMs) * 1000, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), scriptsPerAdmission: null };
}

async function concurrent(store: AdmissionRow['store'], q: QuotaService, count: number): Promise<AdmissionRow> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await admitOne(q, i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return { store, mode: `${IN_FLIGHT} in flight`, admissions: count, perSecond: (count / elapsedMs) * 1000, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), scriptsPerAdmission: null };
}

/** Script calls received from clients (commands a script runs inside count apart, under their own names). */
async function scriptCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) calls += Number(m[2]);
  return calls;
}

async function benchStore(name: AdmissionRow['store'], store: QuotaStore, sizes: AdmissionSizes, admin?: Redis): Promise<AdmissionRow[]> {
  const q = new QuotaService({ store });
  const before = admin ? await scriptCalls(admin) : 0;
  const seq = await sequential(name, q, sizes.sequential);
  const afterSeq = admin ? await scriptCalls(admin) : 0;
  const conc = await concurrent(name, q, sizes.concurrent);
  const afterConc = admin ? await scriptCalls(admin) : 0;
  if (admin) {
    seq.scriptsPerAdmission = (afterSeq - before) / (sizes.sequential + WARMUP);
    conc.scriptsPerAdmission = (afterConc - afterSeq) / sizes.concurrent;
  }
  return [seq, conc];
}

/** Both stores, memory and a private redis-server on loopback, each sequential then 64 in flight. */
export async function measureAdmission(sizes: AdmissionSizes): Promise<AdmissionRow[]> {
  const rows: AdmissionRow[] = [];
  rows.push(...(await benchStore('memory', new MemoryQuotaStore(), sizes)));
  const redis = await startRedisServer();
  const admin = new Redis(redis.url);
  try {
    const store = new RedisQuotaStore({ client: connectRedis(redis.url), keyPrefix: 'bench:' });
    rows.push(...(await benchStore('redis', store, sizes, admin)));
    await store.close();
  } finally {
    await admin.quit();
    await redis.stop();
  }
  return rows;
}
