/**
 * What the Redis store does beyond the contract (#15): what one turn of the event loop sends
 * leaves in one write at its end; corrections and settlements go one script call per hash tag
 * per turn; log TTLs are pushed back once per TTL_REFRESH_MS, not on every admission. On a
 * single Redis and on a Cluster (a batch spanning two hash tags must not be one CROSSSLOT call).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { loadModelTable } from '../../src/models/model-table.js';
import { QuotaService, type QuotaProject } from '../../src/quota/quota-service.js';
import { CORRECT_LUA, TTL_REFRESH_MS } from '../../src/quota/redis-scripts.js';
import { RedisQuotaStore } from '../../src/quota/redis-store.js';
import { WINDOW_MS } from '../../src/quota/windows.js';
import { ManualClock } from '../../src/time/clock.js';
import { serviceUnavailable } from '../support/required-services.js';
import { startRedisCluster } from './redis-cluster.js';
import { testRedisClient } from './redis-namespace.js';

const model = loadModelTable().byId.get('gemini-3-pro-image')!;
const loose = { rpm: 1_000_000, tpm: 1_000_000_000, rpd: 1_000_000, ipm: 1_000_000 };
const project = (id: string): QuotaProject => ({ id, tier: 'tier1', limits: { [model.id]: loose } });
const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');

const redisUrl = inject('redisUrl');
const cluster = await startRedisCluster();
if (typeof cluster === 'string') serviceUnavailable('Redis Cluster', cluster, 'the Redis store turn tests on Redis Cluster');
else afterAll(() => cluster.stop());

const targets = [
  { name: 'Redis', url: redisUrl },
  ...(typeof cluster === 'string' ? [] : [{ name: 'Redis Cluster', url: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',') }]),
];

/** Every command the client sends, and every socket write it makes (a corked turn's commands leave in one). */
function spy(client: Redis | Cluster) {
  const commands: Array<{ name: string; script: string }> = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: { name: string; args: unknown[] }, ...rest: unknown[]) => {
    commands.push({ name: command.name, script: String(command.args[0]) });
    return (send as (...a: unknown[]) => unknown)(command, ...rest);
  }) as typeof client.sendCommand;
  let writes = 0;
  const watch = (stream: { _write: (...a: unknown[]) => unknown; _writev?: (...a: unknown[]) => unknown } | undefined) => {
    if (!stream) return;
    const write = stream._write.bind(stream);
    stream._write = (...a: unknown[]) => (writes++, write(...a));
    if (stream._writev) {
      const writev = stream._writev.bind(stream);
      stream._writev = (...a: unknown[]) => (writes++, writev(...a));
    }
  };
  const streams = () => (client.isCluster ? (client as Cluster).nodes('all').map((n) => n.stream) : [(client as Redis).stream]);
  for (const s of streams()) watch(s as unknown as Parameters<typeof watch>[0]);
  return { commands, writes: () => writes };
}

describe.each(targets)('Redis store turns on $name', ({ url }) => {
  const open: Array<{ store: RedisQuotaStore }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.store.close()));
  });

  async function instance(keyPrefix: string) {
    const client = testRedisClient(url);
    const store = new RedisQuotaStore({ client, keyPrefix });
    open.push({ store });
    // Connected, and every node's socket there to watch.
    await store.ping();
    if (client.isCluster) await Promise.all((client as Cluster).nodes('all').map((n) => n.ping()));
    return { client, store, quota: new QuotaService({ store }) };
  }

  it('sends the admissions of one turn in one write, and their corrections as one script call per hash tag', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const { client, quota } = await instance(`turns:${randomUUID()}:`);
    const [a, b] = [project('proj-a'), project('proj-b')];
    // Load the scripts on every socket first: a first call is an EVAL, a retry after NOSCRIPT another write.
    await quota.correct(await quota.admit({ project: a, tenantId: 't', model, estimatedInputTokens: 1, images: 1, nowMs: clock.nowMs() }), { inputTokens: 2 }, clock.nowMs());
    await quota.correct(await quota.admit({ project: b, tenantId: 't', model, estimatedInputTokens: 1, images: 1, nowMs: clock.nowMs() }), { inputTokens: 2 }, clock.nowMs());
    const seen = spy(client);

    const admissions = await Promise.all(
      Array.from({ length: 6 }, (_, i) => quota.admit({ project: i % 2 ? b : a, tenantId: `t${i % 3}`, model, estimatedInputTokens: 100, images: 1, nowMs: clock.nowMs() })),
    );
    expect(seen.commands).toHaveLength(6);
    if (!client.isCluster) expect(seen.writes()).toBe(1);

    await Promise.all(admissions.map((adm, i) => quota.correct(adm, { inputTokens: 10 * (i + 1), images: i % 2 }, clock.nowMs())));
    const corrections = seen.commands.slice(6);
    expect(corrections).toHaveLength(2);
    for (const c of corrections) expect(c.script).toBe(sha1(CORRECT_LUA));
    if (!client.isCluster) expect(seen.writes()).toBe(2);

    const tpm = async (p: QuotaProject) => (await quota.snapshot(p, [model], clock.nowMs())).filter((r) => r.dimension === 'tpm' || r.dimension === 'ipm');
    // a: the warm-up's 2 tokens and 1 image, then 10+30+50 tokens and no image; b: 2 + 20+40+60, and 3 images + 1.
    expect(await tpm(a)).toMatchObject([{ dimension: 'tpm', used: 92 }, { dimension: 'ipm', used: 1 }]);
    expect(await tpm(b)).toMatchObject([{ dimension: 'tpm', used: 122 }, { dimension: 'ipm', used: 4 }]);
  });

  it('pushes a log TTL back once per TTL_REFRESH_MS, and sets the day counter TTL once', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const prefix = `turns:${randomUUID()}:`;
    const { client, quota } = await instance(prefix);
    const base = `${prefix}{p:proj-a}:m:${model.id}`;
    const ttls = async () => {
      const [log, sums, day] = await Promise.all([client.pttl(`${base}:log`), client.pttl(`${base}:sums`), client.pttl(`${base}:day:2026-06-15`)]);
      return { log, sums, day };
    };
    const admit = () => quota.admit({ project: project('proj-a'), tenantId: 't', model, estimatedInputTokens: 100, images: 1, nowMs: clock.nowMs() });

    await admit();
    const first = await ttls();
    // A minute and a minute more at least, whenever the next admission comes.
    expect(first.log).toBeGreaterThan(WINDOW_MS + 60_000);
    expect(first.sums).toBeGreaterThan(WINDOW_MS + 60_000);
    expect(first.day).toBeGreaterThan(3_600_000);

    // Shortened by hand: an admission within TTL_REFRESH_MS leaves the TTLs alone...
    await Promise.all([client.pexpire(`${base}:log`, 50_000), client.pexpire(`${base}:sums`, 50_000), client.pexpire(`${base}:day:2026-06-15`, 50_000)]);
    clock.advance(TTL_REFRESH_MS - 1);
    await admit();
    const within = await ttls();
    expect(within.log).toBeLessThanOrEqual(50_000);
    expect(within.sums).toBeLessThanOrEqual(50_000);
    expect(within.day).toBeLessThanOrEqual(50_000);

    // ...the first one after it pushes the log's back; the day counter's deadline never moves.
    clock.advance(1);
    await admit();
    const after = await ttls();
    expect(after.log).toBeGreaterThan(WINDOW_MS + 60_000);
    expect(after.sums).toBeGreaterThan(WINDOW_MS + 60_000);
    expect(after.day).toBeLessThanOrEqual(50_000);
  });

  it('keeps the TTL of a log whose one entry is corrected, and a repeated correction changes nothing', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const prefix = `turns:${randomUUID()}:`;
    const { client, quota } = await instance(prefix);
    const log = `${prefix}{p:proj-a}:m:${model.id}:log`;
    const adm = await quota.admit({ project: project('proj-a'), tenantId: 't', model, estimatedInputTokens: 100, images: 1, nowMs: clock.nowMs() });
    await quota.correct(adm, { inputTokens: 40 }, clock.nowMs());
    await quota.correct(adm, { inputTokens: 40 }, clock.nowMs());
    expect(await client.zrange(log, '0', '-1')).toEqual([`${adm.entryId}|40|1`]);
    expect(await client.pttl(log)).toBeGreaterThan(WINDOW_MS);
    // One past the window: nothing to swap, nothing added.
    const late = { ...adm, entryId: 'not-in-the-log' };
    await quota.correct(late, { inputTokens: 7 }, clock.nowMs());
    expect(await client.zrange(log, '0', '-1')).toEqual([`${adm.entryId}|40|1`]);
    expect((await quota.snapshot(project('proj-a'), [model], clock.nowMs())).find((r) => r.dimension === 'tpm')).toMatchObject({ used: 40 });
    expect(await client.hmget(log.replace(/:log$/, ':sums'), 'n', 't', 'i')).toEqual(['1', '40', '1']);
  });

  it('close() sends the corrections still queued', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const prefix = `turns:${randomUUID()}:`;
    const first = await instance(prefix);
    const adm = await first.quota.admit({ project: project('proj-a'), tenantId: 't', model, estimatedInputTokens: 100, images: 1, nowMs: clock.nowMs() });
    const corrected = first.quota.correct(adm, { inputTokens: 700 }, clock.nowMs());
    await first.store.close();
    await corrected;
    const other = await instance(prefix);
    expect((await other.quota.snapshot(project('proj-a'), [model], clock.nowMs())).find((r) => r.dimension === 'tpm')).toMatchObject({ used: 700 });
  });

  it('rejects every correction a failed call carried, leaving nothing unhandled', async () => {
    const clock = new ManualClock('2026-06-15T18:00:00Z');
    const { client, quota } = await instance(`turns:${randomUUID()}:`);
    const adm = await Promise.all([0, 1].map(() => quota.admit({ project: project('proj-a'), tenantId: 't', model, estimatedInputTokens: 100, images: 1, nowMs: clock.nowMs() })));
    client.disconnect();
    const results = await Promise.allSettled(adm.map((a) => quota.correct(a, { inputTokens: 5 }, clock.nowMs())));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
