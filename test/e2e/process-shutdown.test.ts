/**
 * SIGTERM to the real gateway process while calls outlast server.shutdownGraceMs (contract §1,
 * §9; issue #10 item 6): the process exits 0, and every call that reached Google has exactly
 * one usage record, flagged aborted, in SQLite and in PostgreSQL, read after the exit.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { startMockGoogle, type Fault, type MockGoogle } from '../mock-google/server.js';
import { flagsOf, pollUntil, sqliteRecords, startGatewayProcess, type GatewayProcess, type LedgerRow } from '../support/gateway-process.js';
import { GOOGLE_KEY, nativeCall, newRequestId, openaiEdits, openaiGenerations, processConfigYaml } from '../support/process-calls.js';
import { serviceUnavailable } from '../support/required-services.js';
import type { RawAnswer } from '../support/fault-http.js';

const MiB = 1024 * 1024;
const GRACE_MS = 300;
/** Headers at once, then a 20 MiB body at 512 KiB per 100 ms: about 4 s, far past the grace period. */
const TRICKLE: Fault = { kind: 'slowBody', chunkBytes: 512 * 1024, intervalMs: 100 };
const HANG: Fault = { kind: 'hang' };

let mock: MockGoogle;
let gw: GatewayProcess | undefined;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY], imageBytes: { default: 20 * MiB } });
  mock.imageBase64();
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => mock.reset());
afterEach(async () => {
  await gw?.dispose();
  gw = undefined;
  // Calls the gateway left hanging at the mock (if it died without closing them).
  mock.reset();
});

interface InFlight {
  what: string;
  requestId: string;
  calls: number;
  answer: Promise<RawAnswer>;
}

/**
 * Starts calls on every route that are all still running at Google when SIGTERM comes: answers
 * that never start (hang) and answers that trickle (native relay mid-body, OpenAI spool mid-file).
 * Faults are handed out in arrival order, so each call is sent only once the previous reached the mock.
 */
async function startLongCalls(g: GatewayProcess, prefix: string): Promise<InFlight[]> {
  const plan: Array<{ what: string; fault: Fault; calls: number; send: (requestId: string) => Promise<RawAnswer> }> = [
    { what: 'native generateContent, Google silent', fault: HANG, calls: 1, send: (id) => nativeCall(g.url, 'generateContent', { requestId: id }) },
    { what: 'native streamGenerateContent?alt=sse, mid-body', fault: TRICKLE, calls: 1, send: (id) => nativeCall(g.url, 'streamGenerateContent?alt=sse', { requestId: id }) },
    { what: 'native streamGenerateContent, mid-body', fault: TRICKLE, calls: 1, send: (id) => nativeCall(g.url, 'streamGenerateContent', { requestId: id }) },
    { what: 'openai generations n=2, Google silent', fault: HANG, calls: 2, send: (id) => openaiGenerations(g.url, { requestId: id, n: 2 }) },
    { what: 'openai generations, spooling', fault: TRICKLE, calls: 1, send: (id) => openaiGenerations(g.url, { requestId: id }) },
    { what: 'openai edits, Google silent', fault: HANG, calls: 1, send: (id) => openaiEdits(g.url, { requestId: id }) },
  ];
  const started: InFlight[] = [];
  let open = 0;
  for (const p of plan) {
    mock.enqueue(...Array.from({ length: p.calls }, () => p.fault));
    const requestId = newRequestId(`${prefix}-${p.what}`);
    started.push({ what: p.what, requestId, calls: p.calls, answer: p.send(requestId) });
    open += p.calls;
    const reached = await pollUntil(() => (mock.openRequests() >= open ? true : undefined), 10_000, 5);
    if (!reached) throw new Error(`${p.what} did not reach the mock\n${g.describe()}`);
  }
  // The OpenAI trickle is being written to a spool file when the signal comes.
  const spooling = await pollUntil(() => (g.spools().length > 0 ? true : undefined), 10_000, 5);
  if (!spooling) throw new Error('the OpenAI answer never reached the spool file');
  return started;
}

function expectOneAbortedRecordEach(inFlight: InFlight[], rows: Pick<LedgerRow, 'request_id' | 'flags'>[]): void {
  const report = inFlight.map((c) => {
    const mine = rows.filter((r) => r.request_id === c.requestId);
    return { what: c.what, records: mine.length, aborted: mine.filter((r) => flagsOf(r).includes('aborted')).length };
  });
  expect(report).toEqual(inFlight.map((c) => ({ what: c.what, records: c.calls, aborted: c.calls })));
}

describe('SIGTERM with calls outlasting shutdownGraceMs', () => {
  it('SQLite: the process exits 0 and every call that reached Google has exactly one record, flagged aborted', async () => {
    gw = await startGatewayProcess({ configYaml: processConfigYaml({ upstreamUrl: mock.url, shutdownGraceMs: GRACE_MS, timeoutMs: 60_000, answerMemoryMB: 1 }) });
    const inFlight = await startLongCalls(gw, 'sigterm-sqlite');

    const status = await gw.stop(20_000);
    expect(status, gw.describe()).toEqual({ code: 0, signal: null });
    // Every client learns that its call was cut: no answer is complete.
    const answers = await Promise.all(inFlight.map((c) => c.answer));
    expect(answers.filter((a) => a.complete && a.status === 200)).toEqual([]);

    expectOneAbortedRecordEach(inFlight, sqliteRecords(gw.dbPath));
    expect(gw.spools(), 'spool folders left after exit').toEqual([]);
  });

  it('PostgreSQL: the process exits 0 and every call that reached Google has exactly one record, flagged aborted', async (ctx) => {
    const pgUrl = inject('pgUrl');
    if (!pgUrl) {
      serviceUnavailable('PostgreSQL', 'no pgUrl from the global setup', 'the PostgreSQL SIGTERM test');
      return ctx.skip();
    }
    gw = await startGatewayProcess({
      configYaml: processConfigYaml({ upstreamUrl: mock.url, shutdownGraceMs: GRACE_MS, timeoutMs: 60_000, answerMemoryMB: 1 }),
      env: { DATABASE_URL: pgUrl },
    });
    const prefix = newRequestId('sigterm-pg');
    const inFlight = await startLongCalls(gw, prefix);

    const status = await gw.stop(20_000);
    expect(status, gw.describe()).toEqual({ code: 0, signal: null });
    await Promise.all(inFlight.map((c) => c.answer));

    // The database is shared with other suites: only this test's request ids count.
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    const rows = (await client.query<{ request_id: string; flags: string }>('SELECT request_id, flags FROM usage_records WHERE request_id LIKE $1', [`${prefix}-%`])).rows;
    await client.end();
    expectOneAbortedRecordEach(inFlight, rows);
    expect(gw.spools(), 'spool folders left after exit').toEqual([]);
  });
});
