/**
 * A bounded soak of the real gateway process (issue #10 item 8): mixed traffic on both faces,
 * small and 2K-size (6 MiB) answers, with faults from the mock (break-offs, 500s, 429s) and
 * clients that leave early, on loopback only. It asserts that the process stays up, that its RSS
 * settles (the last third of the run averages at most RSS_GROWTH_LIMIT above the middle third),
 * that nothing is logged as an unhandled error, that no spool folder stays behind, and that the
 * ledger holds exactly one record per call that reached Google.
 *
 * 20 s in `npm test`; SOAK_SECONDS=180 for the long run (SOAK_CONCURRENCY, SOAK_SEED too).
 * The figures are printed with console.log, for pasting into a report.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMockGoogle, type Fault, type MockGoogle } from '../mock-google/server.js';
import { countByRequest, sqliteRecords, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { GOOGLE_KEY, nativeBody, nativeCall, newRequestId, openaiEdits, openaiGenerations, processConfigYaml } from '../support/process-calls.js';
import type { RawAnswer } from '../support/fault-http.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 20);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 8);
const SEED = Number(process.env.SOAK_SEED ?? 20261128);
/** Hard cap on requests, whatever the duration: every loop is bounded in count as well as time. */
const MAX_REQUESTS = Math.max(1_000, SECONDS * 1_000);
const RSS_GROWTH_LIMIT = 0.25;
const RSS_SAMPLE_MS = 500;
const MiB = 1024 * 1024;

let mock: MockGoogle;
let gw: GatewayProcess | undefined;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY], imageBytes: { '2K': 6 * MiB } });
  mock.imageBase64('2K');
});
afterAll(async () => {
  await gw?.dispose();
  await mock?.close();
});

/** mulberry32: a seeded PRNG, so a run's mix can be replayed with SOAK_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sent {
  requestId: string;
  action: string;
  face: 'native' | 'openai';
  /** Upstream calls the request makes when it is admitted. */
  n: number;
  answer: RawAnswer;
}

type Action = { name: string; weight: number; run: (g: GatewayProcess, random: () => number) => Promise<Omit<Sent, 'action'>> };

const afterMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

const native = (name: string, path: Parameters<typeof nativeCall>[1], opts: { big?: boolean; dropAfterBytes?: number; model?: string } = {}) =>
  async (g: GatewayProcess) => {
    const requestId = newRequestId(`soak-${name}`);
    const answer = await nativeCall(g.url, path, {
      requestId,
      model: opts.model ?? (opts.big ? 'nano-banana-pro' : 'nano-banana'),
      body: nativeBody(opts.big ? { imageSize: '2K' } : {}),
      ...(opts.dropAfterBytes !== undefined ? { dropAfterBytes: opts.dropAfterBytes } : {}),
      timeoutMs: 30_000,
    });
    return { requestId, face: 'native' as const, n: 1, answer };
  };

const openai = (name: string, opts: { n?: number; big?: boolean; edits?: boolean; leaveAfterMs?: (random: () => number) => number } = {}) =>
  async (g: GatewayProcess, random: () => number) => {
    const requestId = newRequestId(`soak-${name}`);
    const n = opts.n ?? 1;
    const common = {
      requestId,
      n,
      model: opts.big ? 'nano-banana-pro' : 'nano-banana',
      timeoutMs: 30_000,
      ...(opts.leaveAfterMs ? { dropWhen: afterMs(opts.leaveAfterMs(random)) } : {}),
    };
    const answer = opts.edits ? await openaiEdits(g.url, common) : await openaiGenerations(g.url, { ...common, ...(opts.big ? { size: '2K' } : {}) });
    return { requestId, face: 'openai' as const, n, answer };
  };

/** A fault for whichever generation request reaches the mock next, then a small call that may well be the one. */
const withFault = (name: string, fault: (random: () => number) => Fault) => async (g: GatewayProcess, random: () => number) => {
  mock.enqueue(fault(random));
  return native(name, 'generateContent')(g);
};

const ACTIONS: Action[] = [
  { name: 'native small', weight: 24, run: native('native-small', 'generateContent') },
  { name: 'native sse small', weight: 10, run: native('native-sse', 'streamGenerateContent?alt=sse') },
  { name: 'native json-array small', weight: 4, run: native('native-array', 'streamGenerateContent') },
  { name: 'native 2K', weight: 7, run: native('native-2k', 'generateContent', { big: true }) },
  { name: 'native 2K, client leaves after 512 KiB', weight: 3, run: native('native-2k-leaves', 'streamGenerateContent?alt=sse', { big: true, dropAfterBytes: 512 * 1024 }) },
  { name: 'openai small', weight: 14, run: openai('openai-small') },
  { name: 'openai small n=2', weight: 5, run: openai('openai-n2', { n: 2 }) },
  { name: 'openai 2K', weight: 6, run: openai('openai-2k', { big: true }) },
  { name: 'openai edits small', weight: 4, run: openai('openai-edits', { edits: true }) },
  { name: 'openai 2K, client leaves within 60 ms', weight: 3, run: openai('openai-2k-leaves', { big: true, leaveAfterMs: (r) => Math.floor(r() * 60) }) },
  { name: 'fault: Google breaks off', weight: 4, run: withFault('fault-breakoff', (r) => ({ kind: 'breakOff', afterBytes: Math.floor(r() * 4_000) })) },
  { name: 'fault: Google 500', weight: 4, run: withFault('fault-500', () => ({ kind: 'internal' })) },
  // Its own model, which Google always refuses: the 1 s cool-down each 429 starts pauses only that model.
  { name: 'Google 429 on its own model', weight: 3, run: native('fault-429', 'generateContent', { model: 'nano-banana-2' }) },
];
const RATE_LIMITED_MODEL = 'gemini-nano-banana-2.1';

function pick(random: () => number): Action {
  const total = ACTIONS.reduce((s, a) => s + a.weight, 0);
  let x = random() * total;
  for (const a of ACTIONS) {
    x -= a.weight;
    if (x < 0) return a;
  }
  return ACTIONS[ACTIONS.length - 1]!;
}

/** [value, count] pairs, most frequent first. */
function countBy(values: string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

const average = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);

it(`soak: ${SECONDS} s of mixed traffic with faults; the process stays up, RSS settles, one record per call that reached Google`, async () => {
  mock.setModelFault(RATE_LIMITED_MODEL, { kind: 'rateLimit', retryDelay: '1s' });
  gw = await startGatewayProcess({ configYaml: processConfigYaml({ upstreamUrl: mock.url, retries: 0, timeoutMs: 10_000 }) });
  const g = gw;
  const random = prng(SEED);
  const sent: Sent[] = [];
  const rss: Array<{ atMs: number; kb: number }> = [];
  const startedMs = performance.now();
  const deadlineMs = startedMs + SECONDS * 1000;
  const sampler = setInterval(() => {
    const kb = g.rssKb();
    if (kb !== undefined) rss.push({ atMs: performance.now() - startedMs, kb });
  }, RSS_SAMPLE_MS);
  const rssStartKb = g.rssKb();

  let issued = 0;
  const worker = async () => {
    while (performance.now() < deadlineMs && issued < MAX_REQUESTS && g.alive()) {
      issued++;
      const action = pick(random);
      sent.push({ action: action.name, ...(await action.run(g, random)) });
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    clearInterval(sampler);
  }
  const elapsedS = (performance.now() - startedMs) / 1000;
  expect(g.alive(), g.describe()).toBe(true);
  const rssEndKb = g.rssKb();

  const status = await g.stop(30_000);
  const records = sqliteRecords(g.dbPath);
  const upstreamCalls = mock.received.filter((r) => /:(stream)?[gG]enerateContent$/.test(r.path)).length;
  const recordsPerRequest = countByRequest(records);

  const statuses = new Map<string, number>();
  for (const s of sent) {
    const key = `${s.face} ${s.answer.status === 0 ? 'no answer' : s.answer.status}${s.answer.status !== 0 && !s.answer.complete ? ' (cut short)' : ''}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  }
  const third = Math.floor(rss.length / 3);
  const middle = rss.slice(third, 2 * third).map((s) => s.kb);
  const last = rss.slice(2 * third).map((s) => s.kb);
  const middleAvgKb = average(middle);
  const lastAvgKb = average(last);
  const actionOf = new Map(sent.map((s) => [s.requestId, s.action]));
  const unhandled = g.logLines().filter((l) => Number(l['level']) >= 50 && String(l['msg']).includes('unhandled error'));
  const errorLines = g.logLines().filter((l) => Number(l['level']) >= 50);
  // Answered 200 in full: every upstream call it made holds exactly one record.
  const servedWrong = sent
    .filter((s) => s.answer.status === 200 && s.answer.complete && recordsPerRequest.get(s.requestId) !== s.n)
    .map((s) => `${s.action} ${s.requestId}: ${recordsPerRequest.get(s.requestId) ?? 0} records for ${s.n} calls`);

  const mb = (kb: number | undefined) => (kb === undefined ? 'n/a' : `${(kb / 1024).toFixed(1)} MB`);
  console.log(
    [
      `soak figures (seed ${SEED}, concurrency ${CONCURRENCY}):`,
      `  duration ${elapsedS.toFixed(1)} s, requests ${sent.length} (${(sent.length / elapsedS).toFixed(1)}/s)`,
      `  by action: ${ACTIONS.map((a) => `${a.name}: ${sent.filter((s) => s.action === a.name).length}`).join('; ')}`,
      `  statuses: ${[...statuses].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`).join('; ')}`,
      `  RSS start ${mb(rssStartKb)}, middle-third avg ${mb(middleAvgKb)}, last-third avg ${mb(lastAvgKb)} (${(((lastAvgKb - middleAvgKb) / middleAvgKb) * 100).toFixed(1)}%), end ${mb(rssEndKb)}, max ${mb(Math.max(...rss.map((s) => s.kb)))}, ${rss.length} samples`,
      `  upstream calls (generation requests at the mock) ${upstreamCalls}, usage records ${records.length}, distinct record ids ${new Set(records.map((r) => r.id)).size}`,
      `  served 200s with a wrong record count: ${servedWrong.length}; error-level log lines: ${errorLines.length} (unhandled: ${unhandled.length}); spool folders left: ${g.spools().length}`,
      ...countBy(
        errorLines.map((l) => `${actionOf.get(String(l['reqId'])) ?? 'no request'} -> ${String(l['msg'])}${l['err'] ? `: ${String((l['err'] as { message?: unknown }).message)}` : ''}`),
      ).map(([m, n]) => `    ${n} x ${m.slice(0, 240)}`),
      `  exit: code ${status.code}, signal ${status.signal}`,
    ].join('\n'),
  );

  expect(status, g.describe()).toEqual({ code: 0, signal: null });
  expect(unhandled.map((l) => ({ reqId: l['reqId'], err: l['err'] }))).toEqual([]);
  expect(g.spools()).toEqual([]);
  expect(servedWrong).toEqual([]);
  expect(records.length, 'records vs calls that reached Google').toBe(upstreamCalls);
  expect(new Set(records.map((r) => r.id)).size).toBe(records.length);
  expect(sent.filter((s) => s.answer.status === 200 && s.answer.complete).length).toBeGreaterThan(sent.length / 2);
  expect(rss.length).toBeGreaterThanOrEqual(6);
  expect(lastAvgKb, `RSS last third ${mb(lastAvgKb)} vs middle third ${mb(middleAvgKb)}`).toBeLessThanOrEqual(middleAvgKb * (1 + RSS_GROWTH_LIMIT));
}, SECONDS * 1000 + 90_000);
