/**
 * The model table checked against Google's list (#11 item 4): the real UpstreamClient against
 * the mock Google over HTTP, a manual clock, and the interval's timer driven by hand: no test
 * waits for time.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/models/catalog.js';
import { compareWithGoogle, isImageModel, LiveModelCheck, type IntervalTimers, type ListedModel } from '../../src/models/live-check.js';
import { ModelFindings, type FindingKind } from '../../src/models/model-findings.js';
import { loadModelTable, type ModelTable } from '../../src/models/model-table.js';
import { ModelResolver } from '../../src/models/resolver.js';
import { ManualClock } from '../../src/time/clock.js';
import { UpstreamClient } from '../../src/upstream/client.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { freePort } from '../support/free-port.js';

const KEY = 'live-check-key';
const OTHER_KEY = 'live-check-other-key';
/** Before 2.5 Flash Image's shutdown (2026-10-02): the table still serves it, the mock's Google no longer lists it. */
const BEFORE_25_SHUTDOWN = '2026-09-01T00:00:00Z';
const TODAY = '2026-11-28T12:00:00Z';

let mock: MockGoogle;
const clients: UpstreamClient[] = [];

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [KEY, OTHER_KEY] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => mock.reset());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** setInterval by hand: `tick()` runs what the interval would. */
class HandTimers implements IntervalTimers {
  readonly intervals: Array<{ fn: () => void; ms: number; cleared: boolean }> = [];
  setInterval(fn: () => void, ms: number): unknown {
    const entry = { fn, ms, cleared: false };
    this.intervals.push(entry);
    return entry;
  }
  clearInterval(handle: unknown): void {
    (handle as { cleared: boolean }).cleared = true;
  }
  tick(): void {
    for (const i of this.intervals) if (!i.cleared) i.fn();
  }
}

interface Setup {
  table?: ModelTable;
  at?: string;
  projects?: Array<{ id: string; apiKey: string }>;
  baseUrl?: string;
  intervalHours?: number;
  pageSize?: number;
}

function setup(s: Setup = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    }),
  );
  const clock = new ManualClock(s.at ?? TODAY);
  const counts = new Map<string, number>();
  const checks: string[] = [];
  const findings = new ModelFindings({
    logger,
    clock,
    onCount: (project, kind, n) => counts.set(`${project}/${kind}`, n),
    onCheck: (project, outcome) => checks.push(`${project}:${outcome}`),
  });
  const upstream = new UpstreamClient({ baseUrl: s.baseUrl ?? mock.url, timeoutMs: 5_000, retries: 0 });
  clients.push(upstream);
  const timers = new HandTimers();
  const check = new LiveModelCheck({
    upstream,
    projects: s.projects ?? [{ id: 'default', apiKey: KEY }],
    models: new ModelResolver({ table: s.table ?? loadModelTable(), clock }),
    findings,
    logger,
    clock,
    intervalHours: s.intervalHours ?? 6,
    timers,
    ...(s.pageSize ? { pageSize: s.pageSize } : {}),
  });
  const warnings = (kind?: FindingKind) => lines.filter((l) => l['level'] === 40 && (kind === undefined || l['finding'] === kind));
  return { check, findings, clock, timers, lines, warnings, counts, checks };
}

const kinds = (f: ModelFindings) => f.findings().map((x) => `${x.kind} ${x.project} ${x.model}`);

/** The shipped table without one model: what a table that lags Google looks like. */
function tableWithout(id: string): ModelTable {
  const models = loadModelTable().models.filter((m) => m.id !== id);
  return { models, byId: new Map(models.map((m) => [m.id, m])) };
}

describe("the live check against Google's model list", () => {
  it("finds nothing when the table and Google's list agree, reading every page of it with the project's key", async () => {
    const { check, findings, checks } = setup({ pageSize: 1 });
    await check.runOnce();
    expect(findings.findings()).toEqual([]);
    expect(findings.readiness()).toBe('ok');
    const lists = mock.received.filter((r) => r.path === '/v1beta/models');
    // Four models, one a page: four GETs, each after the first carrying the token the one before gave.
    expect(lists).toHaveLength(4);
    expect(lists[0]!.query).toEqual({ pageSize: '1' });
    expect(lists.slice(1).every((r) => r.query['pageToken'] !== undefined)).toBe(true);
    expect(lists.every((r) => r.method === 'GET' && r.headers['x-goog-api-key'] === KEY && r.query['key'] === undefined)).toBe(true);
    expect(checks).toEqual(['default:ok']);
    expect(findings.view()).toMatchObject({ checkedAt: '2026-11-28T12:00:00.000Z', findings: [], failures: [] });
  });

  it('asks for 1000 a page, as Google allows', async () => {
    const { check } = setup();
    await check.runOnce();
    expect(mock.received.map((r) => r.query)).toEqual([{ pageSize: '1000' }]);
  });

  it("reports a model the table serves that Google does not list for the key, and logs it once, not at every check", async () => {
    const { check, findings, timers, warnings, counts } = setup({ at: BEFORE_25_SHUTDOWN });
    check.start();
    await check.idle();
    expect(kinds(findings)).toEqual(['not_listed default gemini-2.5-flash-image']);
    expect(findings.findings()[0]!.message).toBe('gemini-2.5-flash-image is in the model table but Google does not list it for project default: calls to it will fail (404)');
    expect(counts.get('default/not_listed')).toBe(1);
    expect(findings.readiness()).toEqual({ degraded: `1 model finding(s): ${findings.findings()[0]!.message}` });

    timers.tick();
    await check.idle();
    timers.tick();
    await check.idle();
    expect(mock.received).toHaveLength(3);
    expect(warnings('not_listed')).toHaveLength(1);
    expect(findings.findings()[0]!.since).toBe('2026-09-01T00:00:00.000Z');
  });

  it('drops a finding once a later check no longer finds it: here the model reached its shutdown', async () => {
    const { check, findings, clock, timers, lines, counts } = setup({ at: BEFORE_25_SHUTDOWN });
    check.start();
    await check.idle();
    expect(findings.findings()).toHaveLength(1);
    clock.set('2026-10-02T00:00:00Z');
    timers.tick();
    await check.idle();
    expect(findings.findings()).toEqual([]);
    expect(findings.readiness()).toBe('ok');
    expect(counts.get('default/not_listed')).toBe(0);
    expect(lines.some((l) => l['level'] === 30 && String(l['msg']).startsWith('model check: no longer found: gemini-2.5-flash-image'))).toBe(true);
  });

  it('reports an image model Google lists that the table lacks, with what Google says of it', async () => {
    const { check, findings, warnings } = setup({ table: tableWithout('gemini-3.1-flash-lite-image') });
    await check.runOnce();
    expect(findings.findings()).toEqual([
      {
        kind: 'not_in_table',
        project: 'default',
        model: 'gemini-3.1-flash-lite-image',
        message:
          'Google lists image model gemini-3.1-flash-lite-image (Nano Banana 2 Lite) for project default, which the model table lacks (add it under models.override to serve it)',
        google: { displayName: 'Nano Banana 2 Lite', inputTokenLimit: 65536, outputTokenLimit: 4096 },
        since: '2026-11-28T12:00:00.000Z',
      },
    ]);
    expect(warnings('not_in_table')).toHaveLength(1);
  });

  it('reports token limits that differ from the table, with both figures', async () => {
    const { check, findings } = setup({ table: loadModelTable({ 'gemini-3-pro-image': { inputTokenLimit: 65536 } }) });
    await check.runOnce();
    expect(findings.findings()).toMatchObject([
      {
        kind: 'token_limits',
        model: 'gemini-3-pro-image',
        table: { inputTokenLimit: 65536, outputTokenLimit: 32768 },
        google: { inputTokenLimit: 131072, outputTokenLimit: 32768 },
      },
    ]);
    expect(findings.findings()[0]!.message).toContain('Google 131072 in / 32768 out, the table 65536 / 32768');
  });

  it("checks with each project's key and keeps each project's findings apart", async () => {
    const { check, findings, counts } = setup({
      at: BEFORE_25_SHUTDOWN,
      projects: [
        { id: 'a', apiKey: KEY },
        { id: 'b', apiKey: OTHER_KEY },
        { id: 'keyless', apiKey: '' },
      ],
    });
    await check.runOnce();
    expect(mock.received.map((r) => r.headers['x-goog-api-key'])).toEqual([KEY, OTHER_KEY]);
    expect(kinds(findings)).toEqual(['not_listed a gemini-2.5-flash-image', 'not_listed b gemini-2.5-flash-image']);
    expect([counts.get('a/not_listed'), counts.get('b/not_listed')]).toEqual([1, 1]);
  });

  it('keeps a failed check out of the findings, reports it without the key, and logs it once', async () => {
    const { check, findings, timers, lines, checks } = setup({ projects: [{ id: 'default', apiKey: 'AIza-not-a-key-mock-knows' }] });
    check.start();
    await check.idle();
    timers.tick();
    await check.idle();
    expect(findings.findings()).toEqual([]);
    expect(findings.readiness()).toBe('ok');
    expect(findings.view()!.failures).toEqual([
      { project: 'default', at: '2026-11-28T12:00:00.000Z', error: 'Google answered 400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key.' },
    ]);
    expect(checks).toEqual(['default:failed', 'default:failed']);
    const failures = lines.filter((l) => String(l['msg']).startsWith("model check: could not read Google's model list"));
    expect(failures).toHaveLength(1);
    expect(JSON.stringify(lines)).not.toContain('AIza-not-a-key-mock-knows');
  });

  it('never holds up the start: with Google unreachable, start() returns at once and the check ends as a failure', async () => {
    const { check, findings } = setup({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    check.start();
    // Nothing has been awaited yet: the check is still on its way.
    expect(findings.view()).toBeNull();
    await check.idle();
    expect(findings.view()!.failures[0]!.error).toMatch(/^Could not reach Google/);
    expect(findings.readiness()).toBe('ok');
  });

  it("runs every liveCheckHours, only at start with 0, and stop() clears the interval", async () => {
    const every6 = setup({ intervalHours: 6 });
    every6.check.start();
    expect(every6.timers.intervals.map((i) => i.ms)).toEqual([6 * 3_600_000]);
    await every6.check.stop();
    expect(every6.timers.intervals[0]!.cleared).toBe(true);
    every6.timers.tick();
    await every6.check.idle();
    expect(mock.received.length).toBeLessThanOrEqual(1);

    // Past what a Node timer holds (it would fire after 1 ms): capped instead.
    const yearly = setup({ intervalHours: 24 * 365 });
    yearly.check.start();
    await yearly.check.stop();
    expect(yearly.timers.intervals.map((i) => i.ms)).toEqual([2 ** 31 - 1]);

    mock.reset();
    const once = setup({ intervalHours: 0 });
    once.check.start();
    await once.check.idle();
    expect(once.timers.intervals).toEqual([]);
    expect(mock.received).toHaveLength(1);
  });

  it('joins a check already running instead of starting a second', async () => {
    const { check } = setup();
    await Promise.all([check.runOnce(), check.runOnce(), check.runOnce()]);
    expect(mock.received).toHaveLength(1);
  });
});

describe('compareWithGoogle (pure)', () => {
  const table = loadModelTable();
  const models = new ModelResolver({ table });
  const knows = (name: string) => models.lookup(name) !== undefined;
  const now = Date.parse(TODAY);
  const listed = (spec: ModelSpec, extra: Partial<ListedModel> = {}): ListedModel => ({
    id: spec.id,
    displayName: spec.displayName,
    inputTokenLimit: spec.inputTokenLimit,
    outputTokenLimit: spec.outputTokenLimit,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'batchGenerateContent'],
    ...extra,
  });
  const served = models.canonicalModels(now);
  const compare = (list: ListedModel[]) => compareWithGoogle({ project: 'p', table: table.models, knows, listed: list, nowMs: now }).map((f) => `${f.kind} ${f.model}`);

  it.each<[string, ListedModel[], string[]]>([
    ['the served models listed as the table has them', served.map((m) => listed(m)), []],
    ['a served model missing', served.slice(1).map((m) => listed(m)), ['not_listed gemini-3-pro-image']],
    ['a served model listed without generateContent', served.map((m, i) => listed(m, i === 0 ? { supportedGenerationMethods: ['countTokens'] } : {})), ['not_listed gemini-3-pro-image']],
    ['a retired model still listed, or missing', [...served.map((m) => listed(m)), listed(table.byId.get('gemini-2.5-flash-image')!)], []],
    [
      "Google's own alias nano-banana-pro-preview (a name the gateway knows)",
      [...served.map((m) => listed(m)), { id: 'nano-banana-pro-preview', displayName: 'Nano Banana Pro', supportedGenerationMethods: ['generateContent'] }],
      [],
    ],
    [
      'a new Nano Banana by display name, and one by id',
      [
        ...served.map((m) => listed(m)),
        { id: 'gemini-nano-banana-3', displayName: 'Nano Banana 3' },
        { id: 'gemini-4-flash-image', displayName: 'Gemini 4 Flash' },
      ],
      ['not_in_table gemini-nano-banana-3', 'not_in_table gemini-4-flash-image'],
    ],
    [
      'text models, and Imagen (called with :predict, which the gateway does not serve)',
      [
        ...served.map((m) => listed(m)),
        { id: 'gemini-4-argon', displayName: 'Gemini 4 Argon', supportedGenerationMethods: ['generateContent'] },
        { id: 'imagen-4.0-generate-001', displayName: 'Imagen 4', supportedGenerationMethods: ['predict'] },
      ],
      [],
    ],
    ['an output limit that differs', served.map((m, i) => listed(m, i === 1 ? { outputTokenLimit: 32768 } : {})), ['token_limits gemini-nano-banana-2.1']],
    ['limits Google leaves out', served.map((m) => ({ id: m.id })), []],
  ])('%s', (_, list, want) => {
    expect(compare(list)).toEqual(want);
  });

  it.each<[ListedModel, boolean]>([
    [{ id: 'gemini-3-pro-image' }, true],
    [{ id: 'nano-banana-pro-preview', displayName: 'Nano Banana Pro' }, true],
    [{ id: 'gemini-2.5-flash', displayName: 'Gemini 2.5 Flash', supportedGenerationMethods: ['generateContent'] }, false],
    [{ id: 'imagen-4.0-generate-001', supportedGenerationMethods: ['predict'] }, false],
  ])('takes %o for an image model: %s', (m, want) => {
    expect(isImageModel(m)).toBe(want);
  });
});
