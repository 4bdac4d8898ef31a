/**
 * One contract for every Database implementation (STYLE.md: undici's cacheStoreTests).
 * sqlite.test.ts and postgres.test.ts register it with their own harness.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DuplicateError, NotFoundError, type Database, type GroupBy, type UsageQuery, type UsageRow } from '../../src/db/database.js';
import { nextPacificMonthStartMs, pacificDayStartMs, pacificMonthStartMs } from '../../src/time/pacific.js';
import type { UsageRecord } from '../../src/usage/record.js';
import { FLASH, PRO, usageRecord } from './usage-fixtures.js';
import { batchStoreContract } from './batch-store.contract.js';

export interface DatabaseHarness {
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /** Empties the storage completely: the next open() finds no tables. */
  reset(): Promise<void>;
  /** A new, unmigrated handle on the current storage; a second call is a restart. */
  open(): Promise<Database>;
}

type Sums = [requests: number, images: number, input: number, outImage: number, outText: number, thinking: number, costNanoUsd: bigint];

const row = (keys: Partial<Record<GroupBy, string>>, s: Sums): UsageRow => ({
  ...keys,
  requests: s[0],
  images: s[1],
  inputTokens: s[2],
  outputImageTokens: s[3],
  outputTextTokens: s[4],
  thinkingTokens: s[5],
  costNanoUsd: s[6],
});

const counts = (images: number, inputTokens: number, outputImageTokens: number, outputTextTokens: number, thinkingTokens: number, costNanoUsd: number) => ({
  imagesReturned: images,
  inputTokens,
  outputImageTokens,
  outputTextTokens,
  thinkingTokens,
  costNanoUsd,
});

/**
 * Six records in winter (Pacific = UTC-8). r1/r2 straddle Pacific midnight of Jan 15 (both are
 * Jan 15 in UTC); r5/r6 straddle the Pacific month boundary (both are Feb 1 in UTC).
 */
function fixture(): UsageRecord[] {
  return [
    usageRecord('2025-01-15T07:59:59.999Z', { tenantId: 'a', projectId: 'p1', keyId: 'k1', model: PRO, ...counts(1, 11, 1120, 1, 101, 134_000_001) }),
    usageRecord('2025-01-15T08:00:00.000Z', { tenantId: 'a', projectId: 'p1', keyId: 'k2', model: PRO, ...counts(2, 12, 2240, 2, 102, 134_000_002) }),
    usageRecord('2025-01-15T20:00:00.000Z', { tenantId: 'c', projectId: 'p1', keyId: 'k4', model: FLASH, ...counts(1, 13, 1290, 3, 0, 39_000_003) }),
    usageRecord('2025-01-31T23:00:00.000Z', { tenantId: 'b', projectId: 'p2', keyId: 'k3', model: PRO, ...counts(4, 14, 4480, 4, 104, 240_000_004) }),
    usageRecord('2025-02-01T07:30:00.000Z', { tenantId: 'b', projectId: 'p2', keyId: 'k3', model: FLASH, ...counts(1, 15, 1290, 5, 0, 39_000_005) }),
    usageRecord('2025-02-01T08:30:00.000Z', { tenantId: 'b', projectId: 'p2', keyId: 'k3', model: PRO, ...counts(2, 16, 2240, 6, 106, 134_000_006) }),
  ];
}

const R1: Sums = [1, 1, 11, 1120, 1, 101, 134_000_001n];
const R2: Sums = [1, 2, 12, 2240, 2, 102, 134_000_002n];
const R3: Sums = [1, 1, 13, 1290, 3, 0, 39_000_003n];
const R6: Sums = [1, 2, 16, 2240, 6, 106, 134_000_006n];
const TENANT_A: Sums = [2, 3, 23, 3360, 3, 203, 268_000_003n];
const TENANT_B: Sums = [3, 7, 45, 8010, 15, 210, 413_000_015n];
const R4_R5: Sums = [2, 5, 29, 5770, 9, 104, 279_000_009n];

const WHOLE = { fromDay: '2025-01-01', toDay: '2025-02-28' };

export function databaseContract(name: string, harness: DatabaseHarness): void {
  describe(`Database contract: ${name}`, () => {
    const opened: Database[] = [];
    let db: Database;

    const open = async (): Promise<Database> => {
      const d = await harness.open();
      opened.push(d);
      return d;
    };

    beforeAll(async () => {
      await harness.setup?.();
    });
    afterAll(async () => {
      await harness.teardown?.();
    });
    beforeEach(async () => {
      await harness.reset();
      db = await open();
      await db.migrate();
    });
    afterEach(async () => {
      for (const d of opened.splice(0)) await d.close();
    });

    // Google batches and files with their owners (#16).
    batchStoreContract(() => db, open);

    describe('migrations', () => {
      it('migrates an already migrated database again without change or data loss', async () => {
        await db.insertUsage([usageRecord('2025-01-10T12:00:00Z')]);
        await db.migrate();
        const other = await open();
        await other.migrate();
        const rows = await other.queryUsage({ ...WHOLE, groupBy: [] });
        expect(rows.map((r) => r.requests)).toEqual([1]);
      });

      it('keeps records, tenants and keys across a restart', async () => {
        await db.insertUsage([usageRecord('2025-01-10T12:00:00Z', { costNanoUsd: 7 })]);
        await db.createTenant({ id: 't1', project: 'p1', limits: { rpm: 5 }, budget: {}, disabled: false }, 1_000);
        await db.createKey({ keyId: 'key_1', tenantId: 't1', hash: 'sha256:aa', name: 'ci', createdAtMs: 1_000 });
        await db.close();
        const again = await open();
        await again.migrate();
        expect((await again.queryUsage({ ...WHOLE, groupBy: [] }))[0]?.costNanoUsd).toBe(7n);
        expect((await again.getTenant('t1'))?.limits).toEqual({ rpm: 5 });
        expect((await again.listKeys('t1')).map((k) => k.keyId)).toEqual(['key_1']);
      });

      it('answers ping once open', async () => {
        await expect(db.ping()).resolves.toBeUndefined();
      });
    });

    describe('usage records', () => {
      it('stores a batch and ignores records already stored when a batch is retried', async () => {
        const batch = fixture();
        await db.insertUsage(batch.slice(0, 4));
        await db.insertUsage(batch);
        await db.insertUsage(batch.slice(2));
        const [total] = await db.queryUsage({ ...WHOLE, groupBy: [] });
        expect(total?.requests).toBe(6);
        expect(total?.costNanoUsd).toBe(720_000_021n);
      });

      it('stores a record once when a batch holds it twice', async () => {
        const r = usageRecord('2025-01-10T12:00:00Z');
        await db.insertUsage([r, { ...r }]);
        expect((await db.queryUsage({ ...WHOLE, groupBy: [] }))[0]?.requests).toBe(1);
      });

      it('accepts an empty batch', async () => {
        await db.insertUsage([]);
        expect(await db.queryUsage({ ...WHOLE, groupBy: [] })).toEqual([]);
      });

      it('stores every field of a record, whatever the optional ones hold', async () => {
        await db.insertUsage([
          usageRecord('2025-01-10T12:00:00Z', {
            imageSize: null,
            finishReason: null,
            user: 'u-"1",\nsecond line',
            batch: true,
            flags: ['estimated', 'streamed'],
            usageMetadata: { nested: { list: [1, 'two', null] }, text: 'nul\u0000inside' },
            latencyMs: 12.6,
          }),
          usageRecord('2025-01-10T12:00:01Z', { usageMetadata: undefined, user: 'nul\u0000byte' }),
        ]);
        expect((await db.queryUsage({ ...WHOLE, groupBy: [] }))[0]?.requests).toBe(2);
      });
    });

    describe('usage reports', () => {
      beforeEach(async () => {
        await db.insertUsage(fixture());
      });

      const q = (over: Partial<UsageQuery>): UsageQuery => ({ ...WHOLE, groupBy: [], ...over });

      it.each<[string, UsageQuery, UsageRow[]]>([
        ['no grouping', q({}), [row({}, [6, 11, 81, 12660, 21, 413, 720_000_021n])]],
        ['tenant', q({ groupBy: ['tenant'] }), [row({ tenant: 'a' }, TENANT_A), row({ tenant: 'b' }, TENANT_B), row({ tenant: 'c' }, R3)]],
        [
          'model',
          q({ groupBy: ['model'] }),
          [row({ model: FLASH }, [2, 2, 28, 2580, 8, 0, 78_000_008n]), row({ model: PRO }, [4, 9, 53, 10080, 13, 413, 642_000_013n])],
        ],
        [
          'day (Pacific)',
          q({ groupBy: ['day'] }),
          [
            row({ day: '2025-01-14' }, R1),
            row({ day: '2025-01-15' }, [2, 3, 25, 3530, 5, 102, 173_000_005n]),
            row({ day: '2025-01-31' }, R4_R5),
            row({ day: '2025-02-01' }, R6),
          ],
        ],
        [
          'project',
          q({ groupBy: ['project'] }),
          [row({ project: 'p1' }, [3, 4, 36, 4650, 6, 203, 307_000_006n]), row({ project: 'p2' }, TENANT_B)],
        ],
        [
          'key',
          q({ groupBy: ['key'] }),
          [row({ key: 'k1' }, R1), row({ key: 'k2' }, R2), row({ key: 'k3' }, TENANT_B), row({ key: 'k4' }, R3)],
        ],
        [
          'month (Pacific)',
          q({ groupBy: ['month'] }),
          [row({ month: '2025-01' }, [5, 9, 65, 10420, 15, 307, 586_000_015n]), row({ month: '2025-02' }, R6)],
        ],
        [
          'tenant then day, sorted in that order',
          q({ groupBy: ['tenant', 'day'] }),
          [
            row({ tenant: 'a', day: '2025-01-14' }, R1),
            row({ tenant: 'a', day: '2025-01-15' }, R2),
            row({ tenant: 'b', day: '2025-01-31' }, R4_R5),
            row({ tenant: 'b', day: '2025-02-01' }, R6),
            row({ tenant: 'c', day: '2025-01-15' }, R3),
          ],
        ],
        [
          'day then tenant, sorted in that order',
          q({ groupBy: ['day', 'tenant'] }),
          [
            row({ day: '2025-01-14', tenant: 'a' }, R1),
            row({ day: '2025-01-15', tenant: 'a' }, R2),
            row({ day: '2025-01-15', tenant: 'c' }, R3),
            row({ day: '2025-01-31', tenant: 'b' }, R4_R5),
            row({ day: '2025-02-01', tenant: 'b' }, R6),
          ],
        ],
        ['a tenant filter', q({ tenantId: 'b', groupBy: ['day'] }), [row({ day: '2025-01-31' }, R4_R5), row({ day: '2025-02-01' }, R6)]],
        ['a project filter', q({ projectId: 'p1', groupBy: ['tenant'] }), [row({ tenant: 'a' }, TENANT_A), row({ tenant: 'c' }, R3)]],
        [
          'a model filter',
          q({ model: FLASH, groupBy: ['tenant'] }),
          [row({ tenant: 'b' }, [1, 1, 15, 1290, 5, 0, 39_000_005n]), row({ tenant: 'c' }, R3)],
        ],
        ['filters together', q({ tenantId: 'a', projectId: 'p1', model: PRO, groupBy: ['key'] }), [row({ key: 'k1' }, R1), row({ key: 'k2' }, R2)]],
        [
          'a one-day range: the record at 07:59 UTC belongs to the Pacific day before',
          q({ fromDay: '2025-01-15', toDay: '2025-01-15', groupBy: ['tenant'] }),
          [row({ tenant: 'a' }, R2), row({ tenant: 'c' }, R3)],
        ],
        [
          'a range ending on the Pacific month end: the record at 07:30 UTC on Feb 1 is in',
          q({ fromDay: '2025-01-31', toDay: '2025-01-31', groupBy: ['month'] }),
          [row({ month: '2025-01' }, R4_R5)],
        ],
        ['a range with no records', q({ fromDay: '2024-01-01', toDay: '2024-12-31', groupBy: ['tenant'] }), []],
        ['no grouping over a range with no records', q({ fromDay: '2024-01-01', toDay: '2024-12-31' }), []],
        ['a filter matching nothing', q({ tenantId: 'nobody', groupBy: ['day'] }), []],
      ])('groups and filters: %s', async (_name, query, expected) => {
        expect(await db.queryUsage(query)).toEqual(expected);
      });

      it('sorts group keys by their bytes, whatever the database locale', async () => {
        await db.insertUsage(['B', 'a', '_x', 'A-1', 'a_1'].map((t) => usageRecord('2025-03-01T12:00:00Z', { tenantId: t })));
        const rows = await db.queryUsage({ fromDay: '2025-03-01', toDay: '2025-03-01', groupBy: ['tenant'] });
        expect(rows.map((r) => r.tenant)).toEqual(['A-1', 'B', '_x', 'a', 'a_1']);
      });
    });

    describe('recent calls', () => {
      const at = (iso: string, over: Partial<UsageRecord> = {}) => usageRecord(iso, over);
      const calls = [
        at('2025-03-01T10:00:00.000Z', { id: 'r1', requestId: 'req_a', tenantId: 'a', model: PRO }),
        at('2025-03-01T10:00:01.000Z', { id: 'r2', requestId: 'req_b', tenantId: 'b', model: FLASH, httpStatus: 429, flags: ['upstream_error'] }),
        at('2025-03-01T10:00:02.000Z', { id: 'r3', requestId: 'req_c', tenantId: 'a', model: FLASH, flags: ['estimated', 'streamed'] }),
        // Two calls of one request (n=2), in the same millisecond: the id breaks the tie.
        at('2025-03-01T10:00:03.000Z', { id: 'r4b', requestId: 'req_d', tenantId: 'b', model: PRO, httpStatus: 502, flags: ['no_image'] }),
        at('2025-03-01T10:00:03.000Z', { id: 'r4a', requestId: 'req_d', tenantId: 'b', model: PRO, flags: ['aborted'] }),
      ];
      const ids = (records: readonly UsageRecord[]) => records.map((r) => r.id);

      beforeEach(async () => {
        await db.insertUsage(calls);
      });

      it('lists the newest first, by time then id, up to the limit', async () => {
        expect(ids(await db.recentUsage({ limit: 100 }))).toEqual(['r4b', 'r4a', 'r3', 'r2', 'r1']);
        expect(ids(await db.recentUsage({ limit: 2 }))).toEqual(['r4b', 'r4a']);
        expect(await db.recentUsage({ limit: 0 })).toEqual([]);
      });

      it.each<[string, Omit<Parameters<Database['recentUsage']>[0], 'limit'>, string[]]>([
        ['a tenant', { tenantId: 'a' }, ['r3', 'r1']],
        ['a model', { model: FLASH }, ['r3', 'r2']],
        ['successes', { httpStatus: { from: 200, to: 299 } }, ['r4a', 'r3', 'r1']],
        ["Google's 429s", { httpStatus: { from: 429, to: 429 } }, ['r2']],
        ['server errors', { httpStatus: { from: 500, to: 599 } }, ['r4b']],
        ['a flag among others', { flag: 'streamed' }, ['r3']],
        ['a flag alone', { flag: 'no_image' }, ['r4b']],
        ['filters together', { tenantId: 'b', model: PRO, flag: 'aborted' }, ['r4a']],
        ['a filter matching nothing', { tenantId: 'nobody' }, []],
      ])('filters by %s', async (_name, filters, expected) => {
        expect(ids(await db.recentUsage({ limit: 100, ...filters }))).toEqual(expected);
      });

      it('gives back every field as the meter wrote it', async () => {
        const full = at('2025-03-02T10:00:00.000Z', {
          id: 'full',
          imageSize: null,
          finishReason: 'IMAGE_SAFETY',
          user: 'u-1',
          batch: true,
          flags: ['estimated', 'streamed'],
          inputTextTokens: 7,
          inputImageTokens: 258,
          thinkingTokens: 33,
          usageMetadata: { promptTokenCount: 265, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 7 }] },
        });
        await db.insertUsage([full]);
        expect((await db.recentUsage({ limit: 1 }))[0]).toEqual(full);
        const bare = at('2025-03-03T10:00:00.000Z', { id: 'bare', usageMetadata: null, user: null, finishReason: null, flags: [] });
        await db.insertUsage([bare]);
        expect((await db.recentUsage({ limit: 1 }))[0]).toEqual(bare);
      });

      it("finds one call by its record id, or all of a request's calls by the request id", async () => {
        expect(ids(await db.usageByRequest('r2'))).toEqual(['r2']);
        expect(ids(await db.usageByRequest('req_d'))).toEqual(['r4a', 'r4b']);
        expect(await db.usageByRequest('nothing')).toEqual([]);
      });
    });

    describe('exact money', () => {
      it('sums costs past 2^53 nano-USD exactly', async () => {
        const max = Number.MAX_SAFE_INTEGER;
        await db.insertUsage([
          usageRecord('2025-01-10T12:00:00Z', { tenantId: 'a', costNanoUsd: max }),
          usageRecord('2025-01-10T13:00:00Z', { tenantId: 'a', costNanoUsd: max }),
          usageRecord('2025-01-10T14:00:00Z', { tenantId: 'b', costNanoUsd: max }),
          usageRecord('2025-01-10T15:00:00Z', { tenantId: 'b', costNanoUsd: 7 }),
        ]);
        const big = BigInt(max);
        const rows = await db.queryUsage({ ...WHOLE, groupBy: ['tenant'] });
        expect(rows.map((r) => r.costNanoUsd)).toEqual([2n * big, big + 7n]);
        expect((await db.queryUsage({ ...WHOLE, groupBy: [] }))[0]?.costNanoUsd).toBe(3n * big + 7n);
        expect(await db.spendNanoUsd('a', 0, Date.parse('2026-01-01'))).toBe(2n * big);
      });
    });

    describe('spend windows', () => {
      beforeEach(async () => {
        await db.insertUsage(fixture());
      });

      it.each<[string, string, number, number, bigint]>([
        ['a, Pacific Jan 15: the record one millisecond before midnight is out', 'a', pacificDayStartMs('2025-01-15'), pacificDayStartMs('2025-01-16'), 134_000_002n],
        ['a, Pacific Jan 14: its last millisecond is in', 'a', pacificDayStartMs('2025-01-14'), pacificDayStartMs('2025-01-15'), 134_000_001n],
        ['b, Pacific January: the record on UTC Feb 1 before Pacific midnight is in', 'b', pacificMonthStartMs('2025-01'), nextPacificMonthStartMs(pacificMonthStartMs('2025-01')), 279_000_009n],
        ['b, Pacific February', 'b', pacificMonthStartMs('2025-02'), pacificMonthStartMs('2025-03'), 134_000_006n],
        ['b, a window ending exactly at a record: that record is out', 'b', 0, Date.parse('2025-02-01T08:30:00.000Z'), 279_000_009n],
        ['an unknown tenant', 'nobody', 0, Date.parse('2030-01-01'), 0n],
        ['an empty window', 'a', Date.parse('2025-01-15T08:00:00Z'), Date.parse('2025-01-15T08:00:00Z'), 0n],
      ])('sums spend: %s', async (_name, tenant, fromMs, toMs, expected) => {
        expect(await db.spendNanoUsd(tenant, fromMs, toMs)).toBe(expected);
      });

      it.each<[string, string, string, bigint]>([
        ["a's key k2 only", 'a', 'k2', 134_000_002n],
        ["a's key k1 only", 'a', 'k1', 134_000_001n],
        ["b's key k3: all of b's", 'b', 'k3', 413_000_015n],
        ['a key of another tenant', 'a', 'k3', 0n],
      ])("sums one key's spend (#13.3): %s", async (_name, tenant, keyId, expected) => {
        expect(await db.spendNanoUsd(tenant, 0, Date.parse('2030-01-01'), keyId)).toBe(expected);
      });
    });

    describe('usage by user and key (#13.5)', () => {
      beforeEach(async () => {
        await db.insertUsage([
          usageRecord('2025-03-01T18:00:00Z', { keyId: 'k1', user: 'alice', costNanoUsd: 1 }),
          usageRecord('2025-03-01T18:00:01Z', { keyId: 'k1', user: 'bob', costNanoUsd: 10 }),
          usageRecord('2025-03-01T18:00:02Z', { keyId: 'k2', user: 'alice', costNanoUsd: 100 }),
          usageRecord('2025-03-01T18:00:03Z', { keyId: 'k2', user: null, costNanoUsd: 1_000 }),
        ]);
      });
      const q = (over: Partial<UsageQuery>): UsageQuery => ({ fromDay: '2025-03-01', toDay: '2025-03-01', groupBy: [], ...over });

      it("groups by user, a call without one in the '' group, and by key", async () => {
        expect((await db.queryUsage(q({ groupBy: ['user'] }))).map((r) => [r.user, r.requests, r.costNanoUsd])).toEqual([
          ['', 1, 1_000n],
          ['alice', 2, 101n],
          ['bob', 1, 10n],
        ]);
        expect((await db.queryUsage(q({ groupBy: ['key', 'user'] }))).map((r) => [r.key, r.user, r.costNanoUsd])).toEqual([
          ['k1', 'alice', 1n],
          ['k1', 'bob', 10n],
          ['k2', '', 1_000n],
          ['k2', 'alice', 100n],
        ]);
      });

      it('filters by user and by key', async () => {
        expect((await db.queryUsage(q({ user: 'alice' })))[0]).toMatchObject({ requests: 2, costNanoUsd: 101n });
        expect((await db.queryUsage(q({ keyId: 'k2' })))[0]).toMatchObject({ requests: 2, costNanoUsd: 1_100n });
        expect((await db.queryUsage(q({ keyId: 'k2', user: 'alice' })))[0]).toMatchObject({ requests: 1, costNanoUsd: 100n });
        expect(await db.queryUsage(q({ user: 'carol' }))).toEqual([]);
      });
    });

    describe('tenants', () => {
      const tenant = { id: 'acme', project: 'p1', limits: { rpm: 10, rpd: 100 }, budget: { dailyUsd: 25 }, disabled: false };

      it('creates, reads and lists tenants sorted by id', async () => {
        const created = await db.createTenant(tenant, 1_000);
        expect(created).toEqual({ ...tenant, createdAtMs: 1_000, updatedAtMs: 1_000 });
        await db.createTenant({ ...tenant, id: 'Zeta', limits: {}, budget: {} }, 2_000);
        await db.createTenant({ ...tenant, id: 'beta', disabled: true }, 3_000);
        expect(await db.getTenant('acme')).toEqual(created);
        expect(await db.getTenant('nobody')).toBeUndefined();
        const list = await db.listTenants();
        expect(list.map((t) => t.id)).toEqual(['Zeta', 'acme', 'beta']);
        expect(list.find((t) => t.id === 'beta')?.disabled).toBe(true);
        expect(list.find((t) => t.id === 'Zeta')).toMatchObject({ limits: {}, budget: {} });
      });

      it('refuses a second tenant with a live id', async () => {
        await db.createTenant(tenant, 1_000);
        const err = await db.createTenant({ ...tenant, project: 'p2' }, 2_000).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DuplicateError);
        expect(err).toMatchObject({ code: 'DB_DUPLICATE', entity: 'tenant', id: 'acme' });
        expect((await db.getTenant('acme'))?.project).toBe('p1');
      });

      it('updates only the fields given, replacing limits and budget whole', async () => {
        await db.createTenant(tenant, 1_000);
        const updated = await db.updateTenant('acme', { limits: { tpm: 5000 }, disabled: true }, 2_000);
        expect(updated).toEqual({ ...tenant, limits: { tpm: 5000 }, disabled: true, createdAtMs: 1_000, updatedAtMs: 2_000 });
        const again = await db.updateTenant('acme', { project: 'p9', budget: {}, disabled: false }, 3_000);
        expect(again).toEqual({ ...tenant, project: 'p9', limits: { tpm: 5000 }, budget: {}, createdAtMs: 1_000, updatedAtMs: 3_000 });
        expect(await db.getTenant('acme')).toEqual(again);
        expect(await db.updateTenant('nobody', { disabled: true }, 4_000)).toBeUndefined();
      });

      it('keeps a tenant\'s pool (#17) until a patch clears it, and leaves it alone otherwise', async () => {
        const created = await db.createTenant({ ...tenant, pool: 'studios' }, 1_000);
        expect(created).toMatchObject({ project: 'p1', pool: 'studios' });
        expect(await db.updateTenant('acme', { disabled: true }, 2_000)).toMatchObject({ pool: 'studios' });
        expect((await db.listTenants()).find((t) => t.id === 'acme')).toMatchObject({ pool: 'studios' });
        const cleared = await db.updateTenant('acme', { project: 'p9', pool: null }, 3_000);
        expect(cleared).toEqual({ ...tenant, project: 'p9', disabled: true, createdAtMs: 1_000, updatedAtMs: 3_000 });
        expect(await db.updateTenant('acme', { pool: 'other' }, 4_000)).toMatchObject({ pool: 'other' });
      });

      it('keeps only known limit and budget fields', async () => {
        const sloppy = { ...tenant, limits: { rpm: 1, extra: 2 } as { rpm: number }, budget: { monthlyUsd: 3, other: 'x' } as { monthlyUsd: number } };
        const created = await db.createTenant(sloppy, 1_000);
        expect(created.limits).toEqual({ rpm: 1 });
        expect(created.budget).toEqual({ monthlyUsd: 3 });
      });

      it('deletes a tenant, revokes its keys, and lets its id be used again', async () => {
        await db.createTenant(tenant, 1_000);
        await db.createKey({ keyId: 'key_1', tenantId: 'acme', hash: 'sha256:01', name: null, createdAtMs: 1_000 });
        expect(await db.deleteTenant('acme', 2_000)).toBe(true);
        expect(await db.getTenant('acme')).toBeUndefined();
        expect(await db.listTenants()).toEqual([]);
        expect(await db.updateTenant('acme', { disabled: true }, 2_500)).toBeUndefined();
        expect((await db.listKeys('acme')).map((k) => k.revokedAtMs)).toEqual([2_000]);
        expect(await db.deleteTenant('acme', 3_000)).toBe(false);
        expect(await db.deleteTenant('nobody', 3_000)).toBe(false);
        await expect(db.createKey({ keyId: 'key_2', tenantId: 'acme', hash: 'sha256:02', name: null, createdAtMs: 3_000 })).rejects.toBeInstanceOf(NotFoundError);

        const reborn = await db.createTenant({ ...tenant, project: 'p2' }, 4_000);
        expect(reborn).toEqual({ ...tenant, project: 'p2', createdAtMs: 4_000, updatedAtMs: 4_000 });
        expect((await db.listKeys('acme')).map((k) => [k.keyId, k.revokedAtMs])).toEqual([['key_1', 2_000]]);
      });
    });

    describe('keys', () => {
      beforeEach(async () => {
        await db.createTenant({ id: 'acme', project: 'p1', limits: {}, budget: {}, disabled: false }, 1_000);
        await db.createTenant({ id: 'other', project: 'p1', limits: {}, budget: {}, disabled: false }, 1_000);
      });

      it('creates keys and lists them oldest first', async () => {
        const k2 = await db.createKey({ keyId: 'key_b', tenantId: 'acme', hash: 'sha256:bb', name: 'second', createdAtMs: 2_000 });
        const k1 = await db.createKey({ keyId: 'key_a', tenantId: 'acme', hash: 'sha256:aa', name: null, createdAtMs: 1_500 });
        expect(k2).toEqual({
          keyId: 'key_b',
          tenantId: 'acme',
          hash: 'sha256:bb',
          name: 'second',
          limits: {},
          budget: {},
          expiresAtMs: null,
          createdAtMs: 2_000,
          updatedAtMs: 2_000,
          revokedAtMs: null,
        });
        expect(await db.listKeys('acme')).toEqual([k1, k2]);
        expect(await db.listKeys('other')).toEqual([]);
      });

      it.each([
        ['the same key id', { keyId: 'key_a', hash: 'sha256:cc' }],
        ['the same hash', { keyId: 'key_c', hash: 'sha256:aa' }],
      ])('refuses a key with %s', async (_name, clash) => {
        await db.createKey({ keyId: 'key_a', tenantId: 'acme', hash: 'sha256:aa', name: null, createdAtMs: 2_000 });
        const err = await db.createKey({ ...clash, tenantId: 'other', name: null, createdAtMs: 3_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DuplicateError);
        expect(err).toMatchObject({ code: 'DB_DUPLICATE', entity: 'key' });
        expect(await db.listKeys('other')).toEqual([]);
      });

      it('refuses a key for an unknown tenant', async () => {
        const err = await db.createKey({ keyId: 'key_x', tenantId: 'ghost', hash: 'sha256:ff', name: null, createdAtMs: 2_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NotFoundError);
        expect(err).toMatchObject({ code: 'DB_NOT_FOUND', entity: 'tenant', id: 'ghost' });
      });

      it('revokes a key once, and only under its own tenant', async () => {
        await db.createKey({ keyId: 'key_a', tenantId: 'acme', hash: 'sha256:aa', name: null, createdAtMs: 2_000 });
        expect(await db.revokeKey('other', 'key_a', 3_000)).toBe(false);
        expect(await db.revokeKey('acme', 'key_missing', 3_000)).toBe(false);
        expect(await db.revokeKey('acme', 'key_a', 4_000)).toBe(true);
        expect(await db.revokeKey('acme', 'key_a', 5_000)).toBe(false);
        expect((await db.listKeys('acme'))[0]?.revokedAtMs).toBe(4_000);
      });

      it("keeps a key's own limits, budget and expiry (#13.3), and changes them with updateKey", async () => {
        const created = await db.createKey({
          keyId: 'key_s',
          tenantId: 'acme',
          hash: 'sha256:ss',
          name: 'ci',
          createdAtMs: 2_000,
          limits: { rpm: 5, ipm: 2, bogus: 1 } as { rpm: number; ipm: number },
          budget: { dailyUsd: 0.4 },
          expiresAtMs: 9_000,
        });
        expect(created).toMatchObject({ name: 'ci', limits: { rpm: 5, ipm: 2 }, budget: { dailyUsd: 0.4 }, expiresAtMs: 9_000, updatedAtMs: 2_000 });
        expect(created.limits).not.toHaveProperty('bogus');
        // A field left out keeps its value; limits and budget are replaced whole.
        const labelled = await db.updateKey('acme', 'key_s', { name: 'deploy', limits: { rpd: 10 } }, 3_000);
        expect(labelled).toMatchObject({ name: 'deploy', limits: { rpd: 10 }, budget: { dailyUsd: 0.4 }, expiresAtMs: 9_000, updatedAtMs: 3_000, createdAtMs: 2_000 });
        const cleared = await db.updateKey('acme', 'key_s', { expiresAtMs: null, budget: {}, name: null }, 4_000);
        expect(cleared).toMatchObject({ name: null, limits: { rpd: 10 }, budget: {}, expiresAtMs: null, updatedAtMs: 4_000 });
        expect((await db.listKeys('acme'))[0]).toEqual(cleared);
        expect(await db.updateKey('other', 'key_s', { name: 'x' }, 5_000)).toBeUndefined();
        expect(await db.updateKey('acme', 'key_nope', { name: 'x' }, 5_000)).toBeUndefined();
        await db.revokeKey('acme', 'key_s', 6_000);
        expect(await db.updateKey('acme', 'key_s', { name: 'x' }, 7_000)).toBeUndefined();
      });

      it('reports a key whose settings changed in changesSince', async () => {
        await db.createKey({ keyId: 'key_c', tenantId: 'acme', hash: 'sha256:cc', name: null, createdAtMs: 2_000 });
        expect((await db.changesSince(2_001)).keys).toEqual([]);
        await db.updateKey('acme', 'key_c', { limits: { rpm: 1 } }, 3_000);
        expect((await db.changesSince(2_001)).keys).toEqual([expect.objectContaining({ keyId: 'key_c', limits: { rpm: 1 }, updatedAtMs: 3_000 })]);
      });
    });

    describe('changesSince', () => {
      it('reports tenants, keys, revocations and deletions at or after the given time', async () => {
        const base = { project: 'p1', limits: {}, budget: {}, disabled: false };
        await db.createTenant({ id: 'old', ...base }, 1_000);
        await db.createKey({ keyId: 'key_old', tenantId: 'old', hash: 'sha256:01', name: null, createdAtMs: 1_000 });
        await db.createKey({ keyId: 'key_kept', tenantId: 'old', hash: 'sha256:02', name: null, createdAtMs: 1_100 });
        await db.createTenant({ id: 'gone', ...base }, 1_000);
        await db.createKey({ keyId: 'key_gone', tenantId: 'gone', hash: 'sha256:03', name: null, createdAtMs: 1_000 });
        await db.createTenant({ id: 'new', ...base }, 5_000);
        await db.createKey({ keyId: 'key_new', tenantId: 'new', hash: 'sha256:04', name: null, createdAtMs: 5_000 });
        await db.revokeKey('old', 'key_old', 6_000);
        await db.updateTenant('old', { disabled: true }, 7_000);
        await db.deleteTenant('gone', 8_000);

        const all = await db.changesSince(0);
        expect(all.tenants.map((t) => t.id)).toEqual(['new', 'old']);
        expect(all.deletedTenantIds).toEqual(['gone']);
        expect(all.keys.map((k) => [k.keyId, k.revokedAtMs])).toEqual([
          ['key_gone', 8_000],
          ['key_old', 6_000],
          ['key_kept', null],
          ['key_new', null],
        ]);

        const since5 = await db.changesSince(5_000);
        expect(since5.tenants.map((t) => [t.id, t.disabled])).toEqual([
          ['new', false],
          ['old', true],
        ]);
        expect(since5.deletedTenantIds).toEqual(['gone']);
        expect(since5.keys.map((k) => k.keyId)).toEqual(['key_gone', 'key_old', 'key_new']);

        const since7 = await db.changesSince(7_001);
        expect(since7).toEqual({ tenants: [], deletedTenantIds: ['gone'], keys: [expect.objectContaining({ keyId: 'key_gone', revokedAtMs: 8_000 })] });

        expect(await db.changesSince(8_001)).toEqual({ tenants: [], deletedTenantIds: [], keys: [] });
      });

      it('includes a change made in the very millisecond asked for', async () => {
        await db.createTenant({ id: 't', project: 'p1', limits: {}, budget: {}, disabled: false }, 9_000);
        expect((await db.changesSince(9_000)).tenants.map((t) => t.id)).toEqual(['t']);
      });
    });
  });
}
