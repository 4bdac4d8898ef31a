/**
 * Google breaking off at every stage of a 20 MB answer, on every generation route of both
 * faces, against the real gateway process (issue #10 items 2 and 8). A crash shows as the child
 * exiting; a leftover spool folder shows in the child's own TMPDIR; records are read from its
 * SQLite file, and once more after SIGTERM.
 *
 * The gateway runs with retries: 0, so every call that reaches Google is exactly one attempt:
 * "reached Google" and "should have one record" are then the same thing.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type Fault, type MockGoogle } from '../mock-google/server.js';
import { flagsOf, pollUntil, recordCountMismatches, sqliteRecords, startGatewayProcess, type GatewayProcess, type LedgerRow } from '../support/gateway-process.js';
import {
  GOOGLE_KEY,
  isGoogleError,
  isOpenAIError,
  nativeBody,
  nativeCall,
  newRequestId,
  openaiChat,
  openaiEdits,
  openaiGenerations,
  processConfigYaml,
  type NativeAction,
} from '../support/process-calls.js';
import { jsonOf, rawRequest, type RawAnswer } from '../support/fault-http.js';

const MiB = 1024 * 1024;
const IMAGE_BYTES = 20 * MiB;
/**
 * The OpenAI face holds at most this much of its answers in memory (openai.answerMemoryMB: 1 in
 * this file's config), the rest in spool files (src/faces/openai/answer-spool.ts).
 */
const SPILL_AT_BYTES = 1 * MiB;

let mock: MockGoogle;
let gw: GatewayProcess;
/** Request id -> records the current gateway process must hold for it. */
const expectedRecords = new Map<string, number>();

const startGateway = () => startGatewayProcess({ configYaml: processConfigYaml({ upstreamUrl: mock.url, retries: 0, answerMemoryMB: 1 }) });

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY], imageBytes: { default: IMAGE_BYTES } });
  mock.imageBase64(); // build the 20 MB payload once, before the first call
  gw = await startGateway();
});

afterAll(async () => {
  await gw?.dispose();
  await mock?.close();
});

beforeEach(async () => {
  mock.reset();
  // A case that crashed the gateway must not fail every case after it: start a fresh one.
  if (!gw.alive()) {
    await gw.dispose();
    gw = await startGateway();
    expectedRecords.clear();
  }
});

interface Route {
  name: string;
  face: 'native' | 'openai';
  /** Upstream calls one request makes. */
  n: number;
  send(requestId: string): Promise<RawAnswer>;
  /** The images of a whole OpenAI answer (default: `data`). */
  items?: (json: unknown) => unknown[];
}

const native = (action: NativeAction): Route => ({
  name: `native ${action}`,
  face: 'native',
  n: 1,
  send: (requestId) => nativeCall(gw.url, action, { requestId, body: nativeBody() }),
});

const ROUTES: Route[] = [
  native('generateContent'),
  native('streamGenerateContent?alt=sse'),
  native('streamGenerateContent'),
  { name: 'openai images/generations n=1', face: 'openai', n: 1, send: (requestId) => openaiGenerations(gw.url, { requestId, n: 1 }) },
  { name: 'openai images/generations n=3', face: 'openai', n: 3, send: (requestId) => openaiGenerations(gw.url, { requestId, n: 3 }) },
  { name: 'openai images/edits n=1', face: 'openai', n: 1, send: (requestId) => openaiEdits(gw.url, { requestId, n: 1 }) },
  { name: 'openai images/edits n=2', face: 'openai', n: 2, send: (requestId) => openaiEdits(gw.url, { requestId, n: 2 }) },
  {
    name: 'openai chat/completions n=2',
    face: 'openai',
    n: 2,
    send: (requestId) => openaiChat(gw.url, { requestId, n: 2 }),
    items: (json) => (json as { choices: unknown[] }).choices,
  },
];

/** Whole answer length per route, measured on a clean call (the mock's answers are the same length every time). */
const answerBytes = new Map<string, number>();

interface Stage {
  name: string;
  /** The fault for a route whose answer is `total` bytes long. */
  fault(total: number | undefined): Fault;
  /** Before Google's status line: nothing went to the client yet. */
  beforeHeaders?: boolean;
  needsTotal?: boolean;
}

const STAGES: Stage[] = [
  { name: 'before the headers (connection dropped)', fault: () => ({ kind: 'drop' }), beforeHeaders: true },
  { name: 'right after the headers', fault: () => ({ kind: 'breakOff', afterBytes: 0 }) },
  { name: '1 KiB into the body', fault: () => ({ kind: 'breakOff', afterBytes: 1024 }) },
  { name: '0.5 MiB in (held in memory)', fault: () => ({ kind: 'breakOff', afterBytes: 0.5 * MiB }) },
  { name: '2.5 MiB in (past the memory limit: in a spool file)', fault: () => ({ kind: 'breakOff', afterBytes: 2.5 * MiB }) },
  { name: '10 MiB in', fault: () => ({ kind: 'breakOff', afterBytes: 10 * MiB }) },
  { name: 'one byte before the end', fault: (total) => ({ kind: 'breakOff', afterBytes: total! - 1 }), needsTotal: true },
  { name: 'every byte sent, but not the end of the message', fault: () => ({ kind: 'breakOff', afterBytes: 1 << 30 }) },
];

function recordsOf(requestId: string): LedgerRow[] {
  return sqliteRecords(gw.dbPath).filter((r) => r.request_id === requestId);
}

/** Waits (bounded) until the gateway wrote `count` records for the request; returns what is there. */
async function awaitRecords(requestId: string, count: number): Promise<LedgerRow[]> {
  await pollUntil(() => (recordsOf(requestId).length >= count || !gw.alive() ? true : undefined), 5_000);
  // A dead process explains everything else that follows: say so first.
  expect(gw.alive(), gw.describe()).toBe(true);
  return recordsOf(requestId);
}

/** After every case: no spool folder left, the process alive and answering. */
async function expectCleanAndAlive(): Promise<void> {
  await pollUntil(() => (gw.spools().length === 0 || !gw.alive() ? true : undefined), 5_000);
  expect(gw.alive(), gw.describe()).toBe(true);
  expect(gw.spools(), 'spool folders left in the gateway TMPDIR').toEqual([]);
  const health = await rawRequest(`${gw.url}/healthz`, { timeoutMs: 5_000 });
  expect(health.status).toBe(200);
}

/** Replays the last generation request the mock saw straight to the mock: the whole answer's length. */
async function measureAnswer(route: Route): Promise<void> {
  const last = mock.received.filter((r) => /:(stream)?[gG]enerateContent$/.test(r.path)).at(-1);
  if (!last) throw new Error(`no generation request reached the mock for ${route.name}`);
  const query = new URLSearchParams(last.query).toString();
  const direct = await rawRequest(`${mock.url}${last.path}${query ? `?${query}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': GOOGLE_KEY },
    body: last.body,
  });
  expect(direct.complete).toBe(true);
  answerBytes.set(route.name, direct.body.length);
}

for (const route of ROUTES) {
  describe(`${route.name}, 20 MiB answers`, () => {
    it('relays a whole answer (the baseline every fault below is cut from)', async () => {
      const requestId = newRequestId('whole');
      const answer = await route.send(requestId);
      expect(answer.status, answer.body.subarray(0, 500).toString()).toBe(200);
      expect(answer.complete).toBe(true);
      expect(answer.body.length).toBeGreaterThan(route.n * IMAGE_BYTES);
      if (route.face === 'openai') expect(route.items ? route.items(jsonOf(answer)) : (jsonOf(answer) as { data: unknown[] }).data).toHaveLength(route.n);
      expectedRecords.set(requestId, route.n);
      await measureAnswer(route);
      const rows = await awaitRecords(requestId, route.n);
      expect(rows).toHaveLength(route.n);
      expect(rows.every((r) => r.http_status === 200 && !flagsOf(r).includes('aborted'))).toBe(true);
      await expectCleanAndAlive();
    });

    for (const stage of STAGES) {
      it(`Google breaks off ${stage.name}: a clean error, no spool folder, one record per call`, async () => {
        let total = answerBytes.get(route.name);
        if (stage.needsTotal && total === undefined) {
          // The baseline did not run (a filter, or it failed): measure now.
          const measureId = newRequestId('measure');
          await route.send(measureId);
          expectedRecords.set(measureId, route.n);
          await measureAnswer(route);
          total = answerBytes.get(route.name);
          mock.reset();
        }
        const requestId = newRequestId('breakoff');
        mock.enqueue(...Array.from({ length: route.n }, () => stage.fault(total)));
        const answer = await route.send(requestId);
        expectedRecords.set(requestId, route.n);

        // Soft: the records, spool and liveness checks below still run when the answer is wrong.
        const shown = JSON.stringify({ status: answer.status, complete: answer.complete, error: answer.error, body: answer.body.subarray(0, 300).toString() });
        if (route.face === 'openai') {
          expect.soft(answer.status, shown).toBe(502);
          expect.soft(answer.complete, shown).toBe(true);
          expect.soft(isOpenAIError(jsonOf(answer)), shown).toBe(true);
        } else if (stage.beforeHeaders) {
          expect.soft(answer.status, shown).toBeGreaterThanOrEqual(500);
          expect.soft(isGoogleError(jsonOf(answer), answer.status), shown).toBe(true);
        } else {
          // Google's headers arrived before the break: the client must see a 200 whose body is
          // cut short, or (had the gateway not sent its headers yet) a Google-shaped 5xx; never
          // a complete 200, and never a connection closed without any answer.
          const cutShort = answer.status === 200 && !answer.complete;
          const cleanError = answer.status >= 500 && answer.complete && isGoogleError(jsonOf(answer), answer.status);
          expect.soft(cutShort || cleanError, shown).toBe(true);
        }

        const rows = await awaitRecords(requestId, route.n);
        expect(rows.length, `records for ${requestId}\n${gw.describe()}`).toBe(route.n);
        const flag = stage.beforeHeaders ? 'upstream_error' : 'aborted';
        expect(rows.map((r) => flagsOf(r).includes(flag)), JSON.stringify(rows)).toEqual(rows.map(() => true));
        await expectCleanAndAlive();
      });
    }

    if (route.face === 'openai' && route.n > 1) {
      it('one of the calls breaks off past the spool threshold: the others are answered, one record each', async () => {
        const requestId = newRequestId('partial');
        // Queued faults go to requests in arrival order: exactly one of the n calls gets it.
        mock.enqueue({ kind: 'breakOff', afterBytes: SPILL_AT_BYTES + MiB });
        const answer = await route.send(requestId);
        expectedRecords.set(requestId, route.n);
        expect(answer.status, answer.body.subarray(0, 500).toString()).toBe(200);
        expect(answer.complete).toBe(true);
        expect(route.items ? route.items(jsonOf(answer)) : (jsonOf(answer) as { data: unknown[] }).data).toHaveLength(route.n - 1);
        const rows = await awaitRecords(requestId, route.n);
        expect(rows).toHaveLength(route.n);
        expect(rows.filter((r) => flagsOf(r).includes('aborted'))).toHaveLength(1);
        await expectCleanAndAlive();
      });
    }
  });
}

describe('after all the faults', () => {
  it('the same gateway process exits 0 on SIGTERM, with exactly one record per call that reached Google and no unhandled error', async () => {
    expect(gw.alive(), gw.describe()).toBe(true);
    const status = await gw.stop();
    expect(status, gw.describe()).toEqual({ code: 0, signal: null });
    const rows = sqliteRecords(gw.dbPath);
    expect(recordCountMismatches(expectedRecords, rows)).toEqual([]);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    const unhandled = gw.logLines().filter((l) => Number(l['level']) >= 50 && String(l['msg']).includes('unhandled error'));
    expect(unhandled).toEqual([]);
    expect(gw.spools()).toEqual([]);
  });
});
