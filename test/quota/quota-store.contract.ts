/**
 * One suite for every QuotaStore (STYLE.md, undici's cacheStoreTests): memory, Redis and
 * Redis Cluster must decide identically. Behaviour is driven through QuotaService, the store's
 * one client. No sleeping: a ManualClock's `now` goes into every call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayError, type QuotaRefusal } from '../../src/errors/gateway-error.js';
import type { ModelSpec } from '../../src/models/catalog.js';
import { loadModelTable } from '../../src/models/model-table.js';
import type { Limits } from '../../src/quota/limits.js';
import { QuotaService, type AdmissionInput, type QuotaProject } from '../../src/quota/quota-service.js';
import type { QuotaStore } from '../../src/quota/store.js';
import { ManualClock } from '../../src/time/clock.js';
import { nextPacificMidnightMs, pacificDayStartMs } from '../../src/time/pacific.js';

/** Shared counters for one test: every open() is another instance (own connection) on them. */
export interface StoreNamespace {
  open(): Promise<QuotaStore>;
  /** Closes what open() made. */
  close(): Promise<void>;
}

const TABLE = loadModelTable();
const model = TABLE.byId.get('gemini-3-pro-image')!;
const otherModel = TABLE.byId.get('gemini-3.1-flash-lite-image')!;

/** Generous everywhere except what the test names, so only the dimension under test can refuse. */
function projectWith(limits: Limits, id = 'proj-a', models: readonly ModelSpec[] = [model, otherModel]): QuotaProject {
  const loose: Limits = { rpm: 1_000_000, tpm: 1_000_000_000, rpd: 1_000_000, ipm: 1_000_000 };
  return { id, tier: 'tier1', limits: Object.fromEntries(models.map((m) => [m.id, { ...loose, ...limits }])) };
}

async function refusalOf(p: Promise<unknown>): Promise<QuotaRefusal> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GatewayError && e.code === 'QUOTA_EXHAUSTED' && e.details.quota) return e.details.quota;
    throw e;
  }
  throw new Error('expected a QUOTA_EXHAUSTED refusal, but the call was admitted');
}

export function registerQuotaStoreContract(name: string, makeNamespace: () => Promise<StoreNamespace>): void {
  describe(`QuotaStore contract: ${name}`, () => {
    const namespaces: StoreNamespace[] = [];
    afterEach(async () => {
      await Promise.all(namespaces.splice(0).map((n) => n.close()));
    });

    async function services(count: number): Promise<QuotaService[]> {
      const ns = await makeNamespace();
      namespaces.push(ns);
      const out: QuotaService[] = [];
      for (let i = 0; i < count; i++) out.push(new QuotaService({ store: await ns.open() }));
      return out;
    }

    function call(clock: ManualClock, project: QuotaProject, extra: Partial<AdmissionInput> = {}): AdmissionInput {
      return { project, tenantId: 'tenant-a', model, estimatedInputTokens: 100, images: 1, nowMs: clock.nowMs(), ...extra };
    }

    it('admits exactly 7 of 60 concurrent calls against rpd 7 from three instances', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const instances = await services(3);
      const project = projectWith({ rpd: 7 });
      const results = await Promise.allSettled(
        Array.from({ length: 60 }, (_, i) => instances[i % 3]!.admit(call(clock, project, { tenantId: `tenant-${i % 5}` }))),
      );
      const admitted = results.filter((r) => r.status === 'fulfilled');
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      expect(admitted).toHaveLength(7);
      expect(refused).toHaveLength(53);
      for (const e of refused) {
        expect(e).toBeInstanceOf(GatewayError);
        const q = (e as GatewayError).details.quota!;
        expect(q).toMatchObject({ scope: 'project', dimension: 'rpd', limit: 7, used: 7, model: model.id, projectId: 'proj-a' });
        expect(q.retryAfterMs).toBe(nextPacificMidnightMs(clock.nowMs()) - clock.nowMs());
      }
      const rows = await instances[2]!.snapshot(project, [model], clock.nowMs());
      expect(rows.find((r) => r.dimension === 'rpd')).toMatchObject({ used: 7, remaining: 0 });
      expect(rows.find((r) => r.dimension === 'rpm')).toMatchObject({ used: 7 });
    });

    it('refuses the 4th request in a minute against rpm 3 until the first of the three ages out', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [a, b] = await services(2);
      const project = projectWith({ rpm: 3 });
      await a!.admit(call(clock, project));
      clock.advance(10_000);
      await b!.admit(call(clock, project));
      clock.advance(10_000);
      await a!.admit(call(clock, project));
      clock.advance(10_000);
      const refusal = await refusalOf(b!.admit(call(clock, project)));
      expect(refusal).toMatchObject({ scope: 'project', dimension: 'rpm', limit: 3, used: 3, retryAfterMs: 30_000 });
      clock.advance(29_999);
      expect((await refusalOf(a!.admit(call(clock, project)))).retryAfterMs).toBe(1);
      clock.advance(1);
      await expect(a!.admit(call(clock, project))).resolves.toMatchObject({ model: model.id });
      // The slot freed by the first call is taken again: the second call's slot is next.
      expect((await refusalOf(b!.admit(call(clock, project)))).retryAfterMs).toBe(10_000);
    });

    it("words refusals as Google does, with the metric, the limit and the retry delay", async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({ rpm: 1 });
      await q!.admit(call(clock, project));
      clock.advance(18_960);
      await expect(q!.admit(call(clock, project))).rejects.toThrow(
        '\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_paid_tier_requests, limit: 1, model: gemini-3-pro-image\nPlease retry in 41.04s.',
      );
      await expect(q!.admit(call(clock, project, { model: otherModel, tenantLimits: { rpd: 0 } }))).rejects.toThrow(
        /^You exceeded your quota on this gateway \(tenant tenant-a\)\.\n\* Quota exceeded for metric: nanogate\/tenant_requests, limit: 0, model: gemini-3.1-flash-lite-image\nPlease retry in \d+(\.\d+)?s\.$/,
      );
    });

    it('retries a token-heavy call when enough old tokens have aged out, not when the first entry does', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({ tpm: 1_000 });
      await q!.admit(call(clock, project, { estimatedInputTokens: 400 }));
      clock.advance(10_000);
      await q!.admit(call(clock, project, { estimatedInputTokens: 400 }));
      clock.advance(10_000);
      expect(await refusalOf(q!.admit(call(clock, project, { estimatedInputTokens: 500 })))).toMatchObject({
        dimension: 'tpm',
        limit: 1_000,
        used: 800,
        retryAfterMs: 40_000,
      });
      expect((await refusalOf(q!.admit(call(clock, project, { estimatedInputTokens: 900 })))).retryAfterMs).toBe(50_000);
      await expect(q!.admit(call(clock, project, { estimatedInputTokens: 200 }))).resolves.toBeDefined();
      expect(await refusalOf(q!.admit(call(clock, project, { estimatedInputTokens: 1 })))).toMatchObject({ used: 1_000 });
    });

    it('counts images per minute by images, not by requests', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({ ipm: 4 });
      await q!.admit(call(clock, project, { images: 3 }));
      expect(await refusalOf(q!.admit(call(clock, project, { images: 2 })))).toMatchObject({ dimension: 'ipm', limit: 4, used: 3 });
      await expect(q!.admit(call(clock, project, { images: 1 }))).resolves.toBeDefined();
    });

    it("counts nothing on refusal: a tenant's refusal leaves the project's count alone, and vice versa", async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({ rpm: 3 });
      const limited = { tenantId: 'limited', tenantLimits: { rpm: 2 } };
      await q!.admit(call(clock, project, limited));
      await q!.admit(call(clock, project, limited));
      expect(await refusalOf(q!.admit(call(clock, project, limited)))).toMatchObject({ scope: 'tenant', dimension: 'rpm', limit: 2, used: 2, tenantId: 'limited' });
      // The tenant's refused call did not take the project's third slot.
      await expect(q!.admit(call(clock, project, { tenantId: 'free-rider' }))).resolves.toBeDefined();
      expect(await refusalOf(q!.admit(call(clock, project, { tenantId: 'free-rider' })))).toMatchObject({ scope: 'project', limit: 3, used: 3 });

      clock.advance(60_000);
      await q!.admit(call(clock, project, { tenantId: 'free-rider' }));
      await q!.admit(call(clock, project, { tenantId: 'free-rider' }));
      await q!.admit(call(clock, project, { tenantId: 'free-rider' }));
      for (let i = 0; i < 4; i++) expect(await refusalOf(q!.admit(call(clock, project, limited)))).toMatchObject({ scope: 'project' });
      clock.advance(60_000);
      // Four project refusals did not use the tenant's rpm 2.
      await q!.admit(call(clock, project, limited));
      await q!.admit(call(clock, project, limited));
      expect(await refusalOf(q!.admit(call(clock, project, limited)))).toMatchObject({ scope: 'tenant', used: 2 });
      const rows = await q!.snapshot(project, [model], clock.nowMs());
      expect(rows.find((r) => r.dimension === 'rpm')).toMatchObject({ used: 2 });
      expect(rows.find((r) => r.dimension === 'rpd')).toMatchObject({ used: 3 + 3 + 2 });
    });

    it("applies a tenant's limits across models, and a project's per model", async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({ rpm: 1 });
      const tenant = { tenantLimits: { rpd: 3 } };
      await q!.admit(call(clock, project, { ...tenant, model }));
      await q!.admit(call(clock, project, { ...tenant, model: otherModel }));
      expect(await refusalOf(q!.admit(call(clock, project, { ...tenant, model })))).toMatchObject({ scope: 'project', dimension: 'rpm', model: model.id });
      clock.advance(60_000);
      await q!.admit(call(clock, project, { ...tenant, model }));
      expect(await refusalOf(q!.admit(call(clock, project, { ...tenant, model: otherModel })))).toMatchObject({
        scope: 'tenant',
        dimension: 'rpd',
        limit: 3,
        used: 3,
      });
    });

    it('reports the latest-freeing dimension when several refuse', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({ rpm: 1, rpd: 1 });
      await q!.admit(call(clock, project));
      clock.advance(5_000);
      const refusal = await refusalOf(q!.admit(call(clock, project, { tenantLimits: { rpm: 0 } })));
      expect(refusal).toMatchObject({ scope: 'project', dimension: 'rpd' });
      expect(refusal.retryAfterMs).toBe(nextPacificMidnightMs(clock.nowMs()) - clock.nowMs());
    });

    it('corrects tokens per minute from the actual prompt token count', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [a, b] = await services(2);
      const project = projectWith({ tpm: 1_000 });
      const over = await a!.admit(call(clock, project, { estimatedInputTokens: 600 }));
      await a!.correct(over, { inputTokens: 200 }, clock.nowMs());
      // 200 + 700 fits only because the estimate of 600 was replaced.
      const under = await b!.admit(call(clock, project, { estimatedInputTokens: 700 }));
      await b!.correct(under, { inputTokens: 790 }, clock.nowMs());
      expect(await refusalOf(a!.admit(call(clock, project, { estimatedInputTokens: 11 })))).toMatchObject({ dimension: 'tpm', used: 990 });
      await expect(a!.admit(call(clock, project, { estimatedInputTokens: 10 }))).resolves.toBeDefined();
      const rows = await a!.snapshot(project, [model], clock.nowMs());
      expect(rows.find((r) => r.dimension === 'tpm')).toMatchObject({ used: 1_000, remaining: 0 });
    });

    it('ignores a correction that arrives after its entry left the window', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({ tpm: 1_000 });
      const old = await q!.admit(call(clock, project, { estimatedInputTokens: 100 }));
      clock.advance(60_000);
      await q!.correct(old, { inputTokens: 5_000 }, clock.nowMs());
      await expect(q!.admit(call(clock, project, { estimatedInputTokens: 1_000 }))).resolves.toBeDefined();
    });

    it('keeps exact sums and finds each admission to correct in a window of thousands, as it ages out', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({ tpm: 100_000_000 });
      // 3,000 admissions, 100 per 2 s: the first 2,000 age out after the clock moves on.
      const admissions = [];
      for (let i = 0; i < 3_000; i++) {
        if (i > 0 && i % 100 === 0) clock.advance(2_000);
        admissions.push(await q!.admit(call(clock, project, { estimatedInputTokens: 10 })));
      }
      clock.advance(40_001);
      // Corrections for the oldest live admissions, the newest, and one that has aged out.
      await q!.correct(admissions[2_000]!, { inputTokens: 110 }, clock.nowMs());
      await q!.correct(admissions[2_999]!, { inputTokens: 1_010 }, clock.nowMs());
      await q!.correct(admissions[0]!, { inputTokens: 1_000_000 }, clock.nowMs());
      const rows = await q!.snapshot(project, [model], clock.nowMs());
      expect(rows.find((r) => r.dimension === 'rpm')).toMatchObject({ used: 1_000 });
      expect(rows.find((r) => r.dimension === 'tpm')).toMatchObject({ used: 1_000 * 10 + 100 + 1_000 });
    });

    it('shares a cool-down across instances, counts nothing during it, and lets it expire', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [a, b] = await services(2);
      const project = projectWith({ rpd: 100 });
      await a!.startCooldown(project.id, model.id, 30_000, clock.nowMs());
      clock.advance(12_000);
      const refusal = await refusalOf(b!.admit(call(clock, project)));
      expect(refusal).toMatchObject({ scope: 'project', dimension: 'cooldown', retryAfterMs: 18_000, model: model.id });
      // Other models of the project are not cooling down.
      await expect(b!.admit(call(clock, project, { model: otherModel }))).resolves.toBeDefined();
      // A shorter cool-down does not cut the running one short.
      await b!.startCooldown(project.id, model.id, 1_000, clock.nowMs());
      expect((await refusalOf(a!.admit(call(clock, project)))).retryAfterMs).toBe(18_000);
      clock.advance(18_000);
      await expect(a!.admit(call(clock, project))).resolves.toBeDefined();
      const rows = await b!.snapshot(project, [model], clock.nowMs());
      expect(rows.find((r) => r.dimension === 'rpd')).toMatchObject({ used: 1 });
    });

    it('shows a running cool-down to every instance until it ends', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [a, b] = await services(2);
      const project = projectWith({ rpd: 100 });
      expect((await b!.snapshotWithCooldowns(project, [model, otherModel], clock.nowMs())).cooldowns).toEqual([]);
      await a!.startCooldown(project.id, model.id, 30_000, clock.nowMs());
      const untilMs = clock.nowMs() + 30_000;
      clock.advance(29_999);
      const during = await b!.snapshotWithCooldowns(project, [model, otherModel], clock.nowMs());
      expect(during.cooldowns).toEqual([{ model: model.id, untilMs }]);
      expect(during.rows.find((r) => r.model === model.id && r.dimension === 'rpd')).toMatchObject({ used: 0 });
      clock.advance(1);
      expect((await a!.snapshotWithCooldowns(project, [model, otherModel], clock.nowMs())).cooldowns).toEqual([]);
    });

    it('cools down for 60 s when Google gave no retry delay', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({});
      await q!.startCooldown(project.id, model.id, Number.NaN, clock.nowMs());
      expect((await refusalOf(q!.admit(call(clock, project)))).retryAfterMs).toBe(60_000);
    });

    describe("a key's own limits (#13.3): a third scope in the same atomic admission", () => {
      const keyed = (id: string, limits: Limits) => ({ key: { id, limits } });

      it('admits exactly 4 calls of a key with rpd 4 and 6 of its tenant with rpd 6, of 60 concurrent ones from three instances', async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const instances = await services(3);
        const project = projectWith({});
        const results = await Promise.allSettled(
          Array.from({ length: 60 }, (_, i) =>
            instances[i % 3]!.admit(call(clock, project, { tenantLimits: { rpd: 6 }, ...(i % 2 === 0 ? keyed('key_a', { rpd: 4 }) : keyed('key_b', { rpm: 1_000 })) })),
          ),
        );
        const admitted = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i % 2 === 0 ? 'key_a' : 'key_b'] : []));
        expect(admitted).toHaveLength(6);
        expect(admitted.filter((k) => k === 'key_a').length).toBeLessThanOrEqual(4);
        for (const [i, r] of results.entries()) {
          if (r.status === 'fulfilled') continue;
          const q = (r.reason as GatewayError).details.quota!;
          if (q.scope === 'key') expect(q).toMatchObject({ keyId: 'key_a', dimension: 'rpd', limit: 4, used: 4 });
          else expect(q).toMatchObject({ scope: 'tenant', dimension: 'rpd', limit: 6, used: 6 });
          if (q.scope === 'key') expect(i % 2).toBe(0);
        }
        const rows = await instances[1]!.snapshot(project, [model], clock.nowMs());
        expect(rows.find((r) => r.dimension === 'rpd')).toMatchObject({ used: 6 });
      });

      it("refuses on the key's limit, naming the key, counting nothing in the project or the tenant", async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [q] = await services(1);
        const project = projectWith({ rpm: 3 });
        const limited = { tenantLimits: { rpm: 3 }, ...keyed('key_a', { rpm: 1 }) };
        const first = await q!.admit(call(clock, project, limited));
        expect(first).toMatchObject({ keyId: 'key_a', limitRequests: 1, remainingRequests: 0 });
        const refusal = await refusalOf(q!.admit(call(clock, project, limited)));
        expect(refusal).toMatchObject({ scope: 'key', keyId: 'key_a', dimension: 'rpm', limit: 1, used: 1, retryAfterMs: 60_000, tenantId: 'tenant-a' });
        // The refused call took neither the tenant's nor the project's second and third slots.
        await q!.admit(call(clock, project, { tenantLimits: { rpm: 3 }, ...keyed('key_b', { rpm: 5 }) }));
        await q!.admit(call(clock, project, { tenantLimits: { rpm: 3 } }));
        expect(await refusalOf(q!.admit(call(clock, project, { tenantLimits: { rpm: 3 } })))).toMatchObject({ used: 3 });
        // A key's limits span models, as its tenant's do.
        clock.advance(60_000);
        await q!.admit(call(clock, project, { ...limited, model: otherModel }));
        expect(await refusalOf(q!.admit(call(clock, project, limited)))).toMatchObject({ scope: 'key', model: model.id });
      });

      it("words a key's refusal as a quota of the gateway's, with its own quota id", async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [q] = await services(1);
        await expect(q!.admit(call(clock, projectWith({}), keyed('key_a', { ipm: 0 })))).rejects.toThrow(
          /^You exceeded the quota of your API key on this gateway \(key key_a of tenant tenant-a\)\.\n\* Quota exceeded for metric: nanogate\/key_images, limit: 0/,
        );
      });

      it("corrects the key's tokens and images with its tenant's and project's", async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [q] = await services(1);
        const project = projectWith({});
        const limits = keyed('key_a', { tpm: 1_000, ipm: 2 });
        const a = await q!.admit(call(clock, project, { ...limits, estimatedInputTokens: 900, images: 2 }));
        expect(await refusalOf(q!.admit(call(clock, project, { ...limits, estimatedInputTokens: 200, images: 0 })))).toMatchObject({ scope: 'key', dimension: 'tpm' });
        await q!.correct(a, { inputTokens: 100, images: 0 }, clock.nowMs());
        await q!.admit(call(clock, project, { ...limits, estimatedInputTokens: 900, images: 2 }));
        expect(await refusalOf(q!.admit(call(clock, project, { ...limits, estimatedInputTokens: 0, images: 1 })))).toMatchObject({ scope: 'key', dimension: 'ipm', used: 2 });
      });
    });

    describe('images per minute count the images Google returned (#13.7)', () => {
      it('gives back the images a call asked for and did not get, in project and tenant, once', async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [a, b] = await services(2);
        const project = projectWith({ ipm: 4 });
        const tenant = { tenantLimits: { ipm: 4 } };
        const blocked = await a!.admit(call(clock, project, { ...tenant, images: 4 }));
        expect(await refusalOf(b!.admit(call(clock, project, { ...tenant, images: 1 })))).toMatchObject({ dimension: 'ipm', used: 4 });
        // Google blocked it: no image came back.
        await a!.correct(blocked, { images: 0 }, clock.nowMs());
        // Once only: a second correction of the same admission changes nothing.
        await a!.correct(blocked, { images: 0 }, clock.nowMs());
        const two = await b!.admit(call(clock, project, { ...tenant, images: 2 }));
        // It asked for 2 and got 3 (several images in one answer, E11).
        await b!.correct(two, { images: 3 }, clock.nowMs());
        await a!.admit(call(clock, project, { ...tenant, images: 1 }));
        expect(await refusalOf(a!.admit(call(clock, project, { ...tenant, images: 1 })))).toMatchObject({ dimension: 'ipm', used: 4 });
        const rows = await a!.snapshot(project, [model], clock.nowMs());
        expect(rows.find((r) => r.dimension === 'ipm')).toMatchObject({ used: 4 });
        expect(rows.find((r) => r.dimension === 'rpm')).toMatchObject({ used: 3 });
      });

      it('corrects tokens and images together, and leaves a count not given at its estimate', async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [q] = await services(1);
        const project = projectWith({ tpm: 1_000, ipm: 10 });
        const first = await q!.admit(call(clock, project, { estimatedInputTokens: 500, images: 5 }));
        await q!.correct(first, { inputTokens: 200 }, clock.nowMs());
        const rows = await q!.snapshot(project, [model], clock.nowMs());
        expect(rows.filter((r) => r.dimension === 'tpm' || r.dimension === 'ipm').map((r) => [r.dimension, r.used])).toEqual([
          ['tpm', 200],
          ['ipm', 5],
        ]);
      });
    });

    describe.each([
      { what: 'an ordinary PDT day', day: '2026-06-15', hours: 24 },
      { what: 'an ordinary PST day', day: '2026-01-15', hours: 24 },
      { what: 'the 23-hour day DST starts', day: '2026-03-08', hours: 23 },
      { what: 'the 25-hour day DST ends', day: '2026-11-01', hours: 25 },
    ])('rpd on $what ($day)', ({ day, hours }) => {
      it(`lasts ${hours} hours and resets at Pacific midnight, not a second before`, async () => {
        const startMs = pacificDayStartMs(day);
        const clock = new ManualClock(startMs);
        const [q] = await services(1);
        const project = projectWith({ rpd: 2 });
        await q!.admit(call(clock, project));
        const atStart = await refusalOf(Promise.all([q!.admit(call(clock, project)), q!.admit(call(clock, project))]));
        expect(atStart).toMatchObject({ dimension: 'rpd', limit: 2, used: 2, retryAfterMs: hours * 3_600_000 });
        clock.set(startMs + hours * 3_600_000 - 1_000);
        expect(await refusalOf(q!.admit(call(clock, project)))).toMatchObject({ dimension: 'rpd', used: 2, retryAfterMs: 1_000 });
        clock.advance(1_000);
        await q!.admit(call(clock, project));
        clock.advance(1_000);
        await q!.admit(call(clock, project));
        expect((await refusalOf(q!.admit(call(clock, project)))).retryAfterMs).toBe(nextPacificMidnightMs(clock.nowMs()) - clock.nowMs());
      });
    });

    it('refuses a free-tier project with limit 0 until the day resets', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const refusal = await refusalOf(q!.admit(call(clock, { id: 'free-proj', tier: 'free' })));
      expect(refusal).toMatchObject({ limit: 0, used: 0, tier: 'free', dimension: 'rpd' });
      expect(refusal.retryAfterMs).toBe(nextPacificMidnightMs(clock.nowMs()) - clock.nowMs());
    });

    it('tells the caller the tightest requests limit for the x-ratelimit headers', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({ rpm: 10, rpd: 100 });
      const first = await q!.admit(call(clock, project, { tenantLimits: { rpm: 3 } }));
      expect(first).toMatchObject({ limitRequests: 3, remainingRequests: 2, resetRequestsMs: 60_000 });
      clock.advance(30_000);
      const second = await q!.admit(call(clock, project, { tenantId: 'other', tenantLimits: { rpd: 1 } }));
      expect(second).toMatchObject({ limitRequests: 1, remainingRequests: 0, resetRequestsMs: nextPacificMidnightMs(clock.nowMs()) - clock.nowMs() });
      const third = await q!.admit(call(clock, project, { tenantId: 'third' }));
      expect(third).toMatchObject({ limitRequests: 10, remainingRequests: 7 });
    });

    it('snapshots limit, used, remaining and reset per model and dimension', async () => {
      const clock = new ManualClock('2026-06-15T18:00:00Z');
      const [q] = await services(1);
      const project = projectWith({ rpm: 5, tpm: 10_000, rpd: 50, ipm: 8 });
      await q!.admit(call(clock, project, { estimatedInputTokens: 1_200, images: 2 }));
      clock.advance(20_000);
      await q!.admit(call(clock, project, { estimatedInputTokens: 300, images: 1 }));
      clock.advance(50_000);
      const rows = await q!.snapshot(project, [model, otherModel], clock.nowMs());
      const nowMs = clock.nowMs();
      const midnight = nextPacificMidnightMs(nowMs);
      // The first call has aged out of the minute windows; the day still counts both.
      expect(rows.filter((r) => r.model === model.id)).toEqual([
        { model: model.id, dimension: 'rpm', limit: 5, used: 1, remaining: 4, resetAtMs: nowMs + 10_000 },
        { model: model.id, dimension: 'tpm', limit: 10_000, used: 300, remaining: 9_700, resetAtMs: nowMs + 10_000 },
        { model: model.id, dimension: 'rpd', limit: 50, used: 2, remaining: 48, resetAtMs: midnight },
        { model: model.id, dimension: 'ipm', limit: 8, used: 1, remaining: 7, resetAtMs: nowMs + 10_000 },
      ]);
      expect(rows.filter((r) => r.model === otherModel.id).map((r) => [r.dimension, r.used, r.resetAtMs])).toEqual([
        ['rpm', 0, nowMs],
        ['tpm', 0, nowMs],
        ['rpd', 0, midnight],
        ['ipm', 0, nowMs],
      ]);
    });

    describe('pools (#17)', () => {
      function pooled(limits: Limits, id: string): QuotaProject {
        return { ...projectWith(limits, id), pool: 'pool-1' };
      }
      function poolCall(clock: ManualClock, projects: QuotaProject[], extra: Partial<AdmissionInput> = {}) {
        const { project: _unused, ...rest } = call(clock, projects[0]!, extra);
        return { ...rest, pool: { id: 'pool-1', projects } };
      }

      it('admits on the first project in order with room, then on the next, each within its own limits', async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [q] = await services(1);
        const projects = [pooled({ rpm: 2 }, 'p1'), pooled({ rpm: 1 }, 'p2'), pooled({ rpd: 1 }, 'p3')];
        const served: string[] = [];
        for (let i = 0; i < 4; i++) served.push((await q!.admitPool(poolCall(clock, projects))).projectId);
        expect(served).toEqual(['p1', 'p1', 'p2', 'p3']);
        // The same project's counters, whichever path counts it.
        const rows = await q!.snapshot(projects[0]!, [model], clock.nowMs());
        expect(rows.find((r) => r.dimension === 'rpm')).toMatchObject({ used: 2, remaining: 0 });
        await expect(q!.admit(call(clock, projects[0]!))).rejects.toThrow(GatewayError);
      });

      it("refuses a pool with Google's 429 shape and the earliest time any project frees up", async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [a, b] = await services(2);
        const projects = [pooled({ rpm: 1 }, 'p1'), pooled({ rpm: 1 }, 'p2'), pooled({ rpd: 1 }, 'p3')];
        await a!.admitPool(poolCall(clock, projects));
        clock.advance(10_000);
        await b!.admitPool(poolCall(clock, projects));
        await a!.admitPool(poolCall(clock, projects));
        clock.advance(5_000);
        const refusal = await refusalOf(b!.admitPool(poolCall(clock, projects)));
        // p1 frees first (45 s), p2 at 55 s, p3 at Pacific midnight.
        expect(refusal).toMatchObject({ scope: 'project', dimension: 'rpm', limit: 1, used: 1, projectId: 'p1', retryAfterMs: 45_000 });
        clock.advance(45_000);
        await expect(a!.admitPool(poolCall(clock, projects))).resolves.toMatchObject({ projectId: 'p1', pooled: true });
      });

      it('skips a project cooling down after Google refused it, and counts it again once the cool-down ends', async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [q] = await services(1);
        const projects = [pooled({}, 'p1'), pooled({}, 'p2')];
        await q!.startCooldown('p1', model.id, 30_000, clock.nowMs(), 'pool-1');
        await expect(q!.admitPool(poolCall(clock, projects))).resolves.toMatchObject({ projectId: 'p2' });
        await q!.startCooldown('p2', model.id, 20_000, clock.nowMs(), 'pool-1');
        expect(await refusalOf(q!.admitPool(poolCall(clock, projects)))).toMatchObject({ dimension: 'cooldown', projectId: 'p2', retryAfterMs: 20_000 });
        // The other model is not cooling down.
        await expect(q!.admitPool(poolCall(clock, projects, { model: otherModel }))).resolves.toMatchObject({ projectId: 'p1' });
        clock.advance(30_000);
        await expect(q!.admitPool(poolCall(clock, projects))).resolves.toMatchObject({ projectId: 'p1' });
      });

      it("counts a tenant's limits once across the pool, and refuses with the tenant's scope", async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [q] = await services(1);
        const projects = [pooled({ rpd: 1 }, 'p1'), pooled({}, 'p2')];
        const tenant = { tenantLimits: { rpm: 2 } };
        await expect(q!.admitPool(poolCall(clock, projects, tenant))).resolves.toMatchObject({ projectId: 'p1' });
        clock.advance(1_000);
        await expect(q!.admitPool(poolCall(clock, projects, tenant))).resolves.toMatchObject({ projectId: 'p2' });
        // p2 has room, but the tenant has used its 2 across the pool; it frees when its first ages out.
        expect(await refusalOf(q!.admitPool(poolCall(clock, projects, tenant)))).toMatchObject({ scope: 'tenant', limit: 2, used: 2, retryAfterMs: 59_000 });
        await expect(q!.admitPool(poolCall(clock, projects, { tenantId: 'other' }))).resolves.toMatchObject({ projectId: 'p2' });
      });

      it('corrects the tokens of a pooled admission on the project that served it', async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [q] = await services(1);
        const projects = [pooled({ tpm: 1_000 }, 'p1'), pooled({}, 'p2')];
        const first = await q!.admitPool(poolCall(clock, projects, { estimatedInputTokens: 900 }));
        expect(first.projectId).toBe('p1');
        await q!.correct(first, { inputTokens: 100 }, clock.nowMs());
        await expect(q!.admitPool(poolCall(clock, projects, { estimatedInputTokens: 800 }))).resolves.toMatchObject({ projectId: 'p1' });
      });

      it('never admits more than each project allows under concurrent calls from three instances', async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const instances = await services(3);
        const projects = [pooled({ rpd: 3 }, 'p1'), pooled({ rpm: 4 }, 'p2'), pooled({ rpd: 5 }, 'p3')];
        const results = await Promise.allSettled(
          Array.from({ length: 40 }, (_, i) => instances[i % 3]!.admitPool(poolCall(clock, i % 2 ? projects : [...projects].reverse(), { tenantId: `t-${i % 4}` }))),
        );
        const served = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.projectId] : []));
        expect(served).toHaveLength(12);
        expect(served.filter((p) => p === 'p1')).toHaveLength(3);
        expect(served.filter((p) => p === 'p2')).toHaveLength(4);
        expect(served.filter((p) => p === 'p3')).toHaveLength(5);
        for (const r of results) if (r.status === 'rejected') expect((r.reason as GatewayError).code).toBe('QUOTA_EXHAUSTED');
      });
    });

    describe('thought signature pins (#17.5)', () => {
      async function stores(count: number): Promise<QuotaStore[]> {
        const ns = await makeNamespace();
        namespaces.push(ns);
        const out: QuotaStore[] = [];
        for (let i = 0; i < count; i++) out.push(await ns.open());
        return out;
      }
      const HOUR = 3_600_000;

      it('tells every instance which project made a signature, in the order asked, and nothing of unknown ones', async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [a, b] = await stores(2);
        await a!.pinSignatures({ poolId: 'pool-1', digests: ['d1', 'd2'], projectId: 'p2', untilMs: clock.nowMs() + HOUR, nowMs: clock.nowMs() });
        await a!.pinSignatures({ poolId: 'pool-1', digests: ['d3'], projectId: 'p1', untilMs: clock.nowMs() + HOUR, nowMs: clock.nowMs() });
        expect(await b!.signaturePins({ poolId: 'pool-1', digests: ['d3', 'nope', 'd2', 'd1'], nowMs: clock.nowMs() })).toEqual(['p1', undefined, 'p2', 'p2']);
        expect(await b!.signaturePins({ poolId: 'pool-1', digests: [], nowMs: clock.nowMs() })).toEqual([]);
      });

      it("keeps each pool's pins apart", async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [q] = await stores(1);
        await q!.pinSignatures({ poolId: 'pool-1', digests: ['d1'], projectId: 'p1', untilMs: clock.nowMs() + HOUR, nowMs: clock.nowMs() });
        expect(await q!.signaturePins({ poolId: 'pool-2', digests: ['d1'], nowMs: clock.nowMs() })).toEqual([undefined]);
      });

      it('forgets a pin when its time is up, not a millisecond before, and re-pins a digest to the project that made it last', async () => {
        const clock = new ManualClock('2026-06-15T18:00:00Z');
        const [q] = await stores(1);
        await q!.pinSignatures({ poolId: 'pool-1', digests: ['old', 'moved'], projectId: 'p1', untilMs: clock.nowMs() + HOUR, nowMs: clock.nowMs() });
        clock.advance(HOUR / 2);
        await q!.pinSignatures({ poolId: 'pool-1', digests: ['moved'], projectId: 'p2', untilMs: clock.nowMs() + HOUR, nowMs: clock.nowMs() });
        clock.advance(HOUR / 2 - 1);
        expect(await q!.signaturePins({ poolId: 'pool-1', digests: ['old', 'moved'], nowMs: clock.nowMs() })).toEqual(['p1', 'p2']);
        clock.advance(1);
        expect(await q!.signaturePins({ poolId: 'pool-1', digests: ['old', 'moved'], nowMs: clock.nowMs() })).toEqual([undefined, 'p2']);
        // A later pin still drops what lapsed before it.
        await q!.pinSignatures({ poolId: 'pool-1', digests: ['new'], projectId: 'p1', untilMs: clock.nowMs() + HOUR, nowMs: clock.nowMs() });
        clock.advance(HOUR / 2);
        expect(await q!.signaturePins({ poolId: 'pool-1', digests: ['moved', 'new', 'old'], nowMs: clock.nowMs() })).toEqual([undefined, 'p1', undefined]);
      });
    });
  });
}
