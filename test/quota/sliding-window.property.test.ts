/**
 * The minute windows are a sliding log: over random arrival times, no 60 s span ever holds
 * more than the limit (contract §7), and the memory and Redis stores admit exactly the same calls.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { loadModelTable } from '../../src/models/model-table.js';
import { MemoryQuotaStore } from '../../src/quota/memory-store.js';
import { QuotaService, type QuotaProject } from '../../src/quota/quota-service.js';
import { RedisQuotaStore } from '../../src/quota/redis-store.js';
import { WINDOW_MS } from '../../src/quota/windows.js';
import { testRedisClient } from './redis-namespace.js';

const model = loadModelTable().byId.get('gemini-3-pro-image')!;
const T0 = Date.parse('2026-06-15T18:00:00Z');
const redisUrl = inject('redisUrl');
const client = testRedisClient(redisUrl);
const keyPrefix = `prop:${randomUUID()}:`;
afterAll(() => client.quit());

interface Arrival {
  offsetMs: number;
  tokens: number;
}

async function admittedOf(q: QuotaService, project: QuotaProject, arrivals: readonly Arrival[]): Promise<boolean[]> {
  const out: boolean[] = [];
  for (const a of arrivals) {
    try {
      await q.admit({ project, tenantId: 't', model, estimatedInputTokens: a.tokens, images: 1, nowMs: T0 + a.offsetMs });
      out.push(true);
    } catch (e) {
      if (!(e instanceof GatewayError) || e.code !== 'QUOTA_EXHAUSTED') throw e;
      out.push(false);
    }
  }
  return out;
}

/** Largest total cost inside any span [t - 59 999 ms, t] ending at an admitted arrival. */
function maxInAnySpan<A extends Pick<Arrival, 'offsetMs'>>(admitted: readonly A[], cost: (a: A) => number): number {
  let max = 0;
  for (const end of admitted) {
    const inSpan = admitted.filter((a) => a.offsetMs <= end.offsetMs && a.offsetMs > end.offsetMs - WINDOW_MS);
    max = Math.max(max, inSpan.reduce((s, a) => s + cost(a), 0));
  }
  return max;
}

/** Gaps between arrivals: random, or on the edges where off-by-one mistakes live. */
const gapMs = fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.constantFrom(0, 1, 29_999, 30_000, 59_999, 60_000, 60_001));

describe('sliding minute windows', () => {
  it('never admit more than the limit in any 60 s span, and memory and Redis agree', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 200, max: 2_000 }),
        fc.array(fc.record({ gapMs, tokens: fc.integer({ min: 0, max: 600 }) }), { minLength: 1, maxLength: 40 }),
        async (rpm, tpm, raw) => {
          // The clock moves forward; arrivals may tie to the millisecond.
          let offsetMs = 0;
          const arrivals: Arrival[] = raw.map((r) => ({ offsetMs: (offsetMs += r.gapMs), tokens: r.tokens }));
          const project: QuotaProject = { id: `prop-${run++}`, tier: 'tier3', limits: { [model.id]: { rpm, tpm } } };
          const memory = await admittedOf(new QuotaService({ store: new MemoryQuotaStore() }), project, arrivals);
          const redisStore = new RedisQuotaStore({ client, keyPrefix });
          const redis = await admittedOf(new QuotaService({ store: redisStore }), project, arrivals);
          expect(redis).toEqual(memory);
          const admitted = arrivals.filter((_, i) => memory[i]);
          expect(maxInAnySpan(admitted, () => 1)).toBeLessThanOrEqual(rpm);
          expect(maxInAnySpan(admitted, (a) => a.tokens)).toBeLessThanOrEqual(tpm);
          // Not vacuous: the first arrival always fits an empty window.
          expect(memory[0]).toBe(arrivals[0]!.tokens <= tpm);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('agree decision for decision with key scopes and image corrections (#13.3, #13.7), never over a key limit', async () => {
    let run = 0;
    const call = fc.record({ gapMs, key: fc.constantFrom('key_a', 'key_b'), images: fc.integer({ min: 0, max: 3 }), returned: fc.integer({ min: 0, max: 3 }) });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(call, { minLength: 1, maxLength: 30 }),
        async (keyRpm, ipm, raw) => {
          let offsetMs = 0;
          const arrivals = raw.map((r) => ({ ...r, offsetMs: (offsetMs += r.gapMs) }));
          const project: QuotaProject = { id: `keys-${run++}`, tier: 'tier3', limits: { [model.id]: { ipm } } };
          const decide = async (q: QuotaService): Promise<boolean[]> => {
            const out: boolean[] = [];
            for (const a of arrivals) {
              const key = a.key === 'key_a' ? { id: 'key_a', limits: { rpm: keyRpm } } : { id: 'key_b', limits: { ipm } };
              try {
                const admission = await q.admit({ project, tenantId: 't', key, model, estimatedInputTokens: 1, images: a.images, nowMs: T0 + a.offsetMs });
                // What came back is corrected in every scope, as the meter does.
                await q.correct(admission, { images: a.returned }, T0 + a.offsetMs);
                out.push(true);
              } catch (e) {
                if (!(e instanceof GatewayError) || e.code !== 'QUOTA_EXHAUSTED') throw e;
                out.push(false);
              }
            }
            return out;
          };
          const memory = await decide(new QuotaService({ store: new MemoryQuotaStore() }));
          const redis = await decide(new QuotaService({ store: new RedisQuotaStore({ client, keyPrefix }) }));
          expect(redis).toEqual(memory);
          const admitted = arrivals.filter((_, i) => memory[i]);
          expect(maxInAnySpan(admitted.filter((a) => a.key === 'key_a'), () => 1)).toBeLessThanOrEqual(keyRpm);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('agree decision for decision over a pool (#17): the project chosen, or the refusal and its retry delay', async () => {
    let run = 0;
    const step = fc.record({
      gapMs,
      tokens: fc.integer({ min: 0, max: 400 }),
      order: fc.constantFrom([0, 1, 2], [2, 1, 0], [1, 0, 2]),
      // Now and then Google refuses one project: it cools down for a while.
      cooldown: fc.option(fc.record({ project: fc.integer({ min: 0, max: 2 }), ms: fc.integer({ min: 1, max: 90_000 }) }), { freq: 5 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ rpm: fc.integer({ min: 1, max: 3 }), tpm: fc.integer({ min: 200, max: 1_000 }) }), { minLength: 3, maxLength: 3 }),
        fc.option(fc.integer({ min: 1, max: 6 })),
        fc.array(step, { minLength: 1, maxLength: 30 }),
        async (limits, tenantRpm, raw) => {
          let offsetMs = 0;
          const steps = raw.map((r) => ({ ...r, offsetMs: (offsetMs += r.gapMs) }));
          const poolId = `pool-${run++}`;
          const projects: QuotaProject[] = limits.map((l, i) => ({ id: `${poolId}-p${i}`, tier: 'tier3', limits: { [model.id]: l }, pool: poolId }));
          const decide = async (q: QuotaService): Promise<string[]> => {
            const out: string[] = [];
            for (const s of steps) {
              const nowMs = T0 + s.offsetMs;
              if (s.cooldown) await q.startCooldown(projects[s.cooldown.project]!.id, model.id, s.cooldown.ms, nowMs, poolId);
              try {
                const a = await q.admitPool({
                  pool: { id: poolId, projects: s.order.map((i) => projects[i]!) },
                  tenantId: 't',
                  ...(tenantRpm !== null ? { tenantLimits: { rpm: tenantRpm } } : {}),
                  model,
                  estimatedInputTokens: s.tokens,
                  images: 1,
                  nowMs,
                });
                out.push(a.projectId);
              } catch (e) {
                if (!(e instanceof GatewayError) || e.code !== 'QUOTA_EXHAUSTED') throw e;
                const r = e.details.quota!;
                out.push(`refused ${r.projectId} ${r.scope} ${r.dimension} ${r.retryAfterMs}`);
              }
            }
            return out;
          };
          const memory = await decide(new QuotaService({ store: new MemoryQuotaStore() }));
          const redis = await decide(new QuotaService({ store: new RedisQuotaStore({ client, keyPrefix }) }));
          expect(redis).toEqual(memory);
          for (const [i, p] of projects.entries()) {
            const admitted = steps.filter((_, k) => memory[k] === p.id);
            expect(maxInAnySpan(admitted, () => 1)).toBeLessThanOrEqual(limits[i]!.rpm);
            expect(maxInAnySpan(admitted, (a) => a.tokens)).toBeLessThanOrEqual(limits[i]!.tpm);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('admits again exactly when the refusal said capacity frees', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 59_000 }), { minLength: 1, maxLength: 12 }),
        async (rpm, raw) => {
          const offsets = [...raw].sort((a, b) => a - b);
          const q = new QuotaService({ store: new MemoryQuotaStore() });
          const project: QuotaProject = { id: 'p', tier: 'tier3', limits: { [model.id]: { rpm } } };
          const call = (offsetMs: number) => q.admit({ project, tenantId: 't', model, estimatedInputTokens: 1, images: 1, nowMs: T0 + offsetMs });
          for (const o of offsets) {
            try {
              await call(o);
            } catch (e) {
              const retryAfterMs = (e as GatewayError).details.quota!.retryAfterMs;
              expect(retryAfterMs).toBeGreaterThan(0);
              expect(retryAfterMs).toBeLessThanOrEqual(WINDOW_MS);
              if (retryAfterMs > 1) await expect(call(o + retryAfterMs - 1)).rejects.toThrow(GatewayError);
              await expect(call(o + retryAfterMs)).resolves.toBeDefined();
              return;
            }
          }
          // All arrivals fall inside one minute: with no refusal, they all fit the limit.
          expect(offsets.length).toBeLessThanOrEqual(rpm);
        },
      ),
      { numRuns: 100 },
    );
  });
});
