import { DatabaseSync } from 'node:sqlite';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { GOOGLE_KEY, TENANT_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const FOUR_K_BYTES = 20 * 1024 * 1024;

let mock: MockGoogle;
let gw: RunningGateway;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY], imageBytes: { '4K': FOUR_K_BYTES } });
  mock.imageBase64('4K');
  gw = await startGateway({ upstreamUrl: mock.url });
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
});
beforeEach(() => mock.reset());

const fourK = JSON.stringify({ contents: [{ parts: [{ text: 'poster' }] }], generationConfig: { imageConfig: { imageSize: '4K' } } });

function open(path: string, body: string): Promise<IncomingMessage> {
  const url = new URL(path, gw.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY } }, resolve);
    req.on('error', reject);
    req.end(body);
  });
}

/** Lets sockets and buffers settle: every party writes until backpressure stops it. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
}

async function records(): Promise<Array<Record<string, unknown>>> {
  await gw.gateway.ledger.flush();
  const db = new DatabaseSync(gw.dbPath, { readOnly: true });
  try {
    return db.prepare('SELECT route, cost_nano_usd, images_returned, flags FROM usage_records ORDER BY rowid').all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

describe('streaming relay', () => {
  it('passes a 20 MB answer to a client that reads slowly without holding it in memory', async () => {
    // One full answer first, so the mock's own prepared buffers are not counted below.
    await (await request(`${gw.url}/v1beta/models/nano-banana-pro:generateContent`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY }, body: fourK })).body.dump();
    const before = process.memoryUsage();
    const res = await open('/v1beta/models/nano-banana-pro:generateContent', fourK);
    expect(res.statusCode).toBe(200);
    res.pause();
    await settle();
    const paused = process.memoryUsage();
    const grownBytes = paused.arrayBuffers - before.arrayBuffers;
    if (grownBytes >= 8 * 1024 * 1024) res.destroy();
    // Buffering the answer anywhere in the gateway would show as ~20 MB more buffer memory.
    expect(grownBytes).toBeLessThan(8 * 1024 * 1024);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const json = JSON.parse(Buffer.concat(chunks).toString()) as { candidates: Array<{ content: { parts: Array<{ inlineData?: { data: string }; thought?: boolean }> } }> };
    const image = json.candidates[0]!.content.parts.find((p) => p.inlineData && !p.thought)!.inlineData!.data;
    expect(image.length).toBe(mock.imageBase64('4K').length);
    expect(image === mock.imageBase64('4K')).toBe(true);
  });

  it('meters an answer that arrives in tiny pieces exactly like one that arrives whole', async () => {
    const tiny = JSON.stringify({ contents: [{ parts: [{ text: 'banana' }] }] });
    for (const path of ['/v1beta/models/nano-banana-2:generateContent', '/v1beta/models/nano-banana-2:streamGenerateContent?alt=sse']) {
      await (await request(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY }, body: tiny })).body.dump();
      mock.enqueue({ kind: 'slowBody', chunkBytes: 7, intervalMs: 0 });
      await (await request(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY }, body: tiny })).body.dump();
    }
    const rows = (await records()).slice(-4);
    expect(rows.map((r) => r['images_returned'])).toEqual([1, 1, 1, 1]);
    expect(new Set(rows.map((r) => Number(r['cost_nano_usd']))).size).toBe(1);
  });

  it('stops reading from Google when the client leaves mid-answer, and records the call as aborted', async () => {
    mock.enqueue({ kind: 'slowBody', chunkBytes: 64, intervalMs: 20 });
    const res = await open('/v1beta/models/nano-banana:generateContent', JSON.stringify({ contents: [{ parts: [{ text: 'banana' }] }] }));
    expect(res.statusCode).toBe(200);
    await new Promise((resolve) => res.once('data', resolve));
    expect(mock.openRequests()).toBe(1);
    res.destroy();
    for (let i = 0; i < 200 && mock.openRequests() > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(mock.openRequests()).toBe(0);
    let last: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && !String(last?.['flags'] ?? '').includes('aborted'); i++) {
      last = (await records()).at(-1);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(last?.['route']).toBe('native.generateContent');
    expect(String(last?.['flags'])).toContain('aborted');
    // The client left: nothing went wrong with Google, so nothing is logged as a break.
    expect(gw.logs.some((l) => l.includes('broke off'))).toBe(false);
  });

  it('answers concurrent 4K requests on the OpenAI face with the image intact', async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        request(`${gw.url}/v1/images/generations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${TENANT_KEY}` },
          body: JSON.stringify({ model: 'nano-banana-pro', prompt: 'poster', size: '4K' }),
        }),
      ),
    );
    for (const a of answers) {
      expect(a.statusCode).toBe(200);
      const json = (await a.body.json()) as { data: Array<{ b64_json: string }> };
      expect(json.data[0]!.b64_json === mock.imageBase64('4K')).toBe(true);
    }
  });
});
