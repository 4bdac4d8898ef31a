/**
 * Clients that go away mid-answer and mid-upload, on both faces, against the real gateway
 * process (issue #10 items 2 and 7): the process stays up, no spool folder stays behind, no
 * "unhandled error" is logged, and every call that reached Google has exactly one record
 * (contract §11: a client that disconnects aborts its upstream call; the call is still recorded).
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { flagsOf, pollUntil, recordCountMismatches, sqliteRecords, startGatewayProcess, type GatewayProcess, type LedgerRow } from '../support/gateway-process.js';
import { editsForm, GOOGLE_KEY, nativeBody, nativeCall, newRequestId, openaiChat, openaiEdits, openaiGenerations, processConfigYaml, TENANT_KEY } from '../support/process-calls.js';
import { rawRequest } from '../support/fault-http.js';

const MiB = 1024 * 1024;
/** 20 MiB answers trickled out: 256 KiB every 10 ms, about 0.8 s for one, so a client can leave midway. */
const TRICKLE = { kind: 'slowBody', chunkBytes: 256 * 1024, intervalMs: 10 } as const;

let mock: MockGoogle;
let gw: GatewayProcess;
const expectedRecords = new Map<string, number>();
/** Request id -> what the case did, to name the case behind a log line. */
const caseOf = new Map<string, string>();

const startGateway = () => startGatewayProcess({ configYaml: processConfigYaml({ upstreamUrl: mock.url, retries: 0, answerMemoryMB: 1 }) });

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY], imageBytes: { default: 20 * MiB, '2K': 6 * MiB } });
  mock.imageBase64();
  mock.imageBase64('2K');
  gw = await startGateway();
});

afterAll(async () => {
  await gw?.dispose();
  await mock?.close();
});

beforeEach(async () => {
  mock.reset();
  if (!gw.alive()) {
    await gw.dispose();
    gw = await startGateway();
    expectedRecords.clear();
  }
});

const generationRequests = () => mock.received.filter((r) => /:(stream)?[gG]enerateContent$/.test(r.path)).length;

/** Resolves once `n` generation requests are open at the mock (they reached Google). */
async function untilOpenAtGoogle(n: number): Promise<void> {
  const ok = await pollUntil(() => (mock.openRequests() >= n ? true : undefined), 10_000, 5);
  if (!ok) throw new Error(`only ${mock.openRequests()} of ${n} calls reached the mock`);
}

/** Resolves once the gateway has moved an answer to a spool file in its TMPDIR. */
async function untilSpooling(): Promise<void> {
  const ok = await pollUntil(() => (gw.spools().length > 0 ? true : undefined), 10_000, 5);
  if (!ok) throw new Error('the gateway never spooled an answer to disk');
}

async function expectRecords(requestId: string, count: number, flag?: string): Promise<LedgerRow[]> {
  await pollUntil(() => (sqliteRecords(gw.dbPath).filter((r) => r.request_id === requestId).length >= count || !gw.alive() ? true : undefined), 5_000);
  expect(gw.alive(), gw.describe()).toBe(true);
  const rows = sqliteRecords(gw.dbPath).filter((r) => r.request_id === requestId);
  expect(rows.length, `records for ${requestId}: ${JSON.stringify(rows)}`).toBe(count);
  if (flag) expect(rows.map((r) => flagsOf(r).includes(flag)), JSON.stringify(rows)).toEqual(rows.map(() => true));
  return rows;
}

/** The call was aborted upstream (nothing left open at the mock), no spool folder, the process answering. */
async function expectSettledAndAlive(): Promise<void> {
  await pollUntil(() => (mock.openRequests() === 0 && gw.spools().length === 0) || !gw.alive() ? true : undefined, 5_000);
  expect(gw.alive(), gw.describe()).toBe(true);
  expect(mock.openRequests(), 'upstream calls still open after their client left').toBe(0);
  expect(gw.spools(), 'spool folders left in the gateway TMPDIR').toEqual([]);
  expect((await rawRequest(`${gw.url}/healthz`, { timeoutMs: 5_000 })).status).toBe(200);
}

function note(requestId: string, what: string, records: number): void {
  caseOf.set(requestId, what);
  expectedRecords.set(requestId, records);
}

describe('a client that disconnects mid-answer', () => {
  for (const action of ['generateContent', 'streamGenerateContent?alt=sse', 'streamGenerateContent'] as const) {
    it(`native ${action}: after 1 MiB of a trickling 20 MiB answer, the call is aborted upstream and recorded once, flagged aborted`, async () => {
      const requestId = newRequestId('native-leaves');
      note(requestId, `native ${action}, client left mid-answer`, 1);
      mock.enqueue(TRICKLE);
      const answer = await nativeCall(gw.url, action, { requestId, body: nativeBody(), dropAfterBytes: MiB });
      expect(answer.status).toBe(200);
      expect(answer.error).toBe('dropped by the client');
      await expectRecords(requestId, 1, 'aborted');
      await expectSettledAndAlive();
    });
  }

  it('native generateContent: while Google has not answered yet, the call is aborted upstream and recorded once, flagged aborted', async () => {
    const requestId = newRequestId('native-leaves-early');
    note(requestId, 'native, client left before Google answered', 1);
    mock.enqueue({ kind: 'hang' });
    const answer = await nativeCall(gw.url, 'generateContent', { requestId, dropWhen: untilOpenAtGoogle(1) });
    expect(answer.status).toBe(0);
    await expectRecords(requestId, 1, 'aborted');
    await expectSettledAndAlive();
  });

  for (const n of [1, 3]) {
    it(`openai images/generations n=${n}: while the answers are being spooled to disk, every call is aborted, recorded once, and the spool removed`, async () => {
      const requestId = newRequestId('openai-leaves-spooling');
      note(requestId, `openai generations n=${n}, client left while spooling`, n);
      mock.enqueue(...Array.from({ length: n }, () => TRICKLE));
      const answer = await openaiGenerations(gw.url, { requestId, n, dropWhen: untilSpooling() });
      expect(answer.status).toBe(0);
      await expectRecords(requestId, n, 'aborted');
      await expectSettledAndAlive();
    });
  }

  it('openai chat/completions n=2: while the answers are being spooled to disk, every call is aborted, recorded once, and the spool removed', async () => {
    const requestId = newRequestId('chat-leaves-spooling');
    note(requestId, 'openai chat n=2, client left while spooling', 2);
    mock.enqueue(TRICKLE, TRICKLE);
    const answer = await openaiChat(gw.url, { requestId, n: 2, dropWhen: untilSpooling() });
    expect(answer.status).toBe(0);
    await expectRecords(requestId, 2, 'aborted');
    await expectSettledAndAlive();
  });

  it('openai images/edits: while the answer is being spooled to disk, the call is aborted, recorded once, and the spool removed', async () => {
    const requestId = newRequestId('edits-leaves-spooling');
    note(requestId, 'openai edits, client left while spooling', 1);
    mock.enqueue(TRICKLE);
    const answer = await openaiEdits(gw.url, { requestId, dropWhen: untilSpooling() });
    expect(answer.status).toBe(0);
    await expectRecords(requestId, 1, 'aborted');
    await expectSettledAndAlive();
  });

  it('openai images/generations: while Google has not answered yet, the call is aborted upstream and recorded once, flagged aborted', async () => {
    const requestId = newRequestId('openai-leaves-early');
    note(requestId, 'openai generations, client left before Google answered', 1);
    mock.enqueue({ kind: 'hang' });
    const answer = await openaiGenerations(gw.url, { requestId, dropWhen: untilOpenAtGoogle(1) });
    expect(answer.status).toBe(0);
    await expectRecords(requestId, 1, 'aborted');
    await expectSettledAndAlive();
  });

  it('openai images/generations n=2: after 1 MiB of the 40 MiB response, both (complete) calls are recorded once and the spool removed', async () => {
    const requestId = newRequestId('openai-leaves-reading');
    note(requestId, 'openai generations n=2, client left while reading the response', 2);
    const answer = await openaiGenerations(gw.url, { requestId, n: 2, dropAfterBytes: MiB });
    expect(answer.status).toBe(200);
    expect(answer.error).toBe('dropped by the client');
    const rows = await expectRecords(requestId, 2);
    expect(rows.every((r) => r.http_status === 200)).toBe(true);
    await expectSettledAndAlive();
  });
});

describe('many clients that leave at every moment of a spooled answer', () => {
  it('openai images/generations with 6 MiB answers, clients leaving 0 to 60 ms in (240 calls, 4 at a time): one record per call that reached Google, no spool folder, the process up', async () => {
    const startedAt = generationRequests();
    const ids: string[] = [];
    let next = 0;
    const TOTAL = 240;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < TOTAL) {
          const leaveAfterMs = (next++ % 121) / 2;
          const requestId = newRequestId('openai-sweep');
          ids.push(requestId);
          caseOf.set(requestId, `openai 6 MiB answer, client left after ${leaveAfterMs} ms`);
          // The moment the client leaves is the input here, so a timer is the right tool.
          await openaiGenerations(gw.url, { requestId, size: '2K', dropWhen: new Promise((r) => setTimeout(r, leaveAfterMs)) });
        }
      }),
    );
    const sweepRecords = () => sqliteRecords(gw.dbPath).filter((r) => ids.includes(r.request_id));
    // A call whose client has just left may still be on its way to Google (or being metered):
    // wait until nothing is open at the mock and the records have caught up with what reached it.
    await pollUntil(
      () => ((mock.openRequests() === 0 && sweepRecords().length === generationRequests() - startedAt) || !gw.alive() ? true : undefined),
      5_000,
    );
    const reached = generationRequests() - startedAt;
    expect(gw.alive(), gw.describe()).toBe(true);
    const rows = sweepRecords();
    expect(rows.length, `records for the ${reached} calls that reached Google`).toBe(reached);
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(rows.length);
    await expectSettledAndAlive();
  }, 60_000);
});

/**
 * Sends the headers with `Expect: 100-continue` and, once the gateway has taken the request
 * (its 100 Continue is the event that says so), `sent` bytes of a body declared `declared` bytes
 * long; then closes the connection. Resolves with the status if the gateway answered first.
 */
function uploadAndLeave(path: string, headers: Record<string, string>, partial: Buffer, declared: number): Promise<{ continued: boolean; status: number }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = httpRequest(`${gw.url}${path}`, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(declared), expect: '100-continue' },
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('the gateway neither answered nor asked for the body within 10 s'));
    }, 10_000);
    req.on('continue', () => {
      continued = true;
      req.write(partial, () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ continued, status: 0 });
      });
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      req.destroy();
      resolve({ continued, status: res.statusCode ?? 0 });
    });
    req.on('error', () => {});
    req.flushHeaders();
  });
}

describe('a client that disconnects mid-upload', () => {
  it('native generateContent: 1 MiB of an 8 MiB body, then gone: nothing reaches Google, nothing is recorded', async () => {
    const requestId = newRequestId('native-upload-leaves');
    note(requestId, 'native, client left mid-upload', 0);
    const body = Buffer.from(JSON.stringify({ contents: [{ parts: [{ text: 'x'.repeat(8 * MiB) }] }] }));
    const sent = await uploadAndLeave(
      '/v1beta/models/nano-banana-pro:generateContent',
      { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY, 'x-request-id': requestId },
      body.subarray(0, MiB),
      body.length,
    );
    expect(sent).toEqual({ continued: true, status: 0 });
    expect(generationRequests()).toBe(0);
    await expectSettledAndAlive();
  });

  it('openai images/generations: half a JSON body, then gone: nothing reaches Google, nothing is recorded', async () => {
    const requestId = newRequestId('openai-upload-leaves');
    note(requestId, 'openai generations, client left mid-upload', 0);
    const body = Buffer.from(JSON.stringify({ model: 'nano-banana-pro', prompt: 'y'.repeat(2 * MiB) }));
    const sent = await uploadAndLeave(
      '/v1/images/generations',
      { 'content-type': 'application/json', authorization: `Bearer ${TENANT_KEY}`, 'x-request-id': requestId },
      body.subarray(0, MiB),
      body.length,
    );
    expect(sent).toEqual({ continued: true, status: 0 });
    expect(generationRequests()).toBe(0);
    await expectSettledAndAlive();
  });

  it('openai images/edits: a multipart upload cut inside its image file: nothing reaches Google, nothing is recorded', async () => {
    const requestId = newRequestId('edits-upload-leaves');
    note(requestId, 'openai edits, client left mid-upload', 0);
    const form = editsForm();
    // A 4 MiB "image" (a PNG signature, then filler) sent up to its middle.
    const boundary = /boundary=(.+)$/.exec(form.contentType)![1]!;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nmake it blue\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`,
    );
    const image = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(4 * MiB, 7)]);
    const whole = Buffer.concat([head, image, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const sent = await uploadAndLeave(
      '/v1/images/edits',
      { 'content-type': form.contentType, authorization: `Bearer ${TENANT_KEY}`, 'x-request-id': requestId },
      whole.subarray(0, head.length + 2 * MiB),
      whole.length,
    );
    expect(sent).toEqual({ continued: true, status: 0 });
    expect(generationRequests()).toBe(0);
    await expectSettledAndAlive();
  });
});

describe('after all the disconnects', () => {
  it('the same gateway exits 0 on SIGTERM, logged nothing at error level (no "unhandled error"), and holds exactly one record per call that reached Google', async () => {
    expect(gw.alive(), gw.describe()).toBe(true);
    const status = await gw.stop();
    expect(status, gw.describe()).toEqual({ code: 0, signal: null });
    // A client that leaves is not the gateway's error: nothing at error level, "unhandled error" least of all.
    const errors = gw
      .logLines()
      .filter((l) => Number(l['level']) >= 50)
      .map((l) => ({ case: caseOf.get(String(l['reqId'])) ?? String(l['reqId']), msg: l['msg'], err: (l['err'] as { message?: string } | undefined)?.message }));
    expect.soft(errors.filter((e) => String(e.msg).includes('unhandled error')), '"unhandled error" lines').toEqual([]);
    expect.soft(errors.filter((e) => !String(e.msg).includes('unhandled error')), 'other error-level lines').toEqual([]);
    expect(recordCountMismatches(expectedRecords, sqliteRecords(gw.dbPath), (id) => caseOf.get(id) ?? id)).toEqual([]);
    expect(gw.spools()).toEqual([]);
  });
});

