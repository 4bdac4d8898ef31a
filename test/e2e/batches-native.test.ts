/**
 * #16 on the native face, with the real @google/genai (and the legacy SDK's multipart upload):
 * files and batches created, listed, read, cancelled and deleted through the gateway with only
 * the base URL changed; each tenant sees only its own; admission (budget, enqueued tokens)
 * refuses in Google's 429 shape; finished batches are metered at Batch prices, one record per
 * request.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GoogleGenAI } from '@google/genai';
import { GoogleAIFileManager } from '@google/generative-ai/server';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { BUDGET_TENANT_KEY, OTHER_TENANT_KEY, TENANT_KEY, startBatchGateway, type BatchGateway } from '../support/batch-gateway.js';
import type { UsageRecord } from '../../src/usage/record.js';

let mock: MockGoogle;
let gw: BatchGateway;
let dir: string;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: ['test-google-key'] });
  dir = mkdtempSync(join(tmpdir(), 'batches-native-'));
});
afterAll(async () => {
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  mock.reset();
  gw = await startBatchGateway({ upstreamUrl: mock.url, projectLimitsYaml: '    limits: { gemini-nano-banana-2.1: { batchTokens: 100 } }' });
});
afterEach(async () => {
  await gw?.close();
});

const ai = (key = TENANT_KEY) => new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: gw.url } });
const line = (key: string, text: string, size?: string) =>
  JSON.stringify({ key, request: { contents: [{ parts: [{ text }] }], generationConfig: { responseModalities: ['IMAGE'], ...(size ? { imageConfig: { imageSize: size } } : {}) } } });

function writeJsonl(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

async function records(batchName: string): Promise<UsageRecord[]> {
  return (await gw.gateway.db.usageByRequest(batchName)).sort((a, b) => a.id.localeCompare(b.id));
}

/** Nano-USD at Pro's Batch rates (1,000 / 6,000 / 60,000 per input / text+thinking / image token), from Google's usageMetadata. */
function proBatchCost(u: { promptTokenCount?: number; candidatesTokenCount?: number; thoughtsTokenCount?: number; candidatesTokensDetails?: Array<{ modality: string; tokenCount: number }> }): number {
  const image = (u.candidatesTokensDetails ?? []).filter((d) => d.modality === 'IMAGE').reduce((s, d) => s + d.tokenCount, 0);
  return (u.promptTokenCount ?? 0) * 1_000 + image * 60_000 + ((u.candidatesTokenCount ?? 0) - image + (u.thoughtsTokenCount ?? 0)) * 6_000;
}

describe('batches from a JSONL file, with @google/genai', () => {
  it('uploads, creates under an alias, follows to the end, downloads the result and meters each request at Batch prices', async () => {
    const path = writeJsonl('in.jsonl', [line('a', 'a red banana', '2K'), line('b', 'a blue banana'), line('c', 'a green banana', '4K')]);
    const file = await ai().files.upload({ file: path, config: { mimeType: 'application/jsonl', displayName: 'my input' } });
    expect(file.name).toMatch(/^files\/[0-9a-f]{20}$/);
    expect(file).toMatchObject({ displayName: 'my input', mimeType: 'application/jsonl', sizeBytes: String(readFileSync(path).length), state: 'ACTIVE', source: 'UPLOADED' });
    // Google's own name never reaches the tenant.
    expect(JSON.stringify(file)).not.toContain(mock.batches.files()[0]!.id);

    const created = await ai().batches.create({ model: 'nano-banana-pro', src: file.name!, config: { displayName: 'posters' } });
    expect(created).toMatchObject({ name: expect.stringMatching(/^batches\/[0-9a-f]{20}$/), state: 'JOB_STATE_PENDING', displayName: 'posters', model: 'models/gemini-3-pro-image' });
    const [atGoogle] = mock.batches.batches();
    expect(atGoogle).toMatchObject({ model: 'gemini-3-pro-image', displayName: `nanogate:${created.name!.slice('batches/'.length)}`, input: 'file' });
    expect(mock.received.find((r) => r.path.endsWith(':batchGenerateContent'))?.path).toBe('/v1beta/models/gemini-3-pro-image:batchGenerateContent');

    mock.batches.advanceBatches();
    expect((await ai().batches.get({ name: created.name! })).state).toBe('JOB_STATE_RUNNING');
    mock.batches.advanceBatches();
    const done = await ai().batches.get({ name: created.name! });
    expect(done.state).toBe('JOB_STATE_SUCCEEDED');
    expect(done.dest?.fileName).toMatch(/^files\/r[0-9a-f]{20}$/);

    const out = join(dir, 'out.jsonl');
    await ai().files.download({ file: done.dest!.fileName!, downloadPath: out });
    const results = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; response: { usageMetadata: Parameters<typeof proBatchCost>[0]; candidates: Array<{ content: { parts: Array<{ inlineData?: { data: string }; thought?: boolean }> } }> } });
    expect(results.map((r) => r.key)).toEqual(['a', 'b', 'c']);
    expect(results[0]!.response.candidates[0]!.content.parts.find((p) => p.inlineData && !p.thought)?.inlineData?.data).toBe(mock.imageBase64('2K'));

    expect(await records(created.name!)).toEqual([]);
    const tick = await gw.gateway.batches.follower.tick();
    expect(tick).toMatchObject({ leader: true, settled: 1 });
    const recs = await records(created.name!);
    expect(recs).toHaveLength(3);
    for (const r of recs) expect(r).toMatchObject({ batch: true, tenantId: 'design', model: 'gemini-3-pro-image', modelAsked: 'nano-banana-pro', route: 'native.batchGenerateContent', httpStatus: 200, imagesReturned: 1 });
    const byOutput = new Map(results.map((r) => [proBatchCost(r.response.usageMetadata), r]));
    for (const r of recs) expect(byOutput.has(r.costNanoUsd)).toBe(true);
    expect(recs.reduce((s, r) => s + r.costNanoUsd, 0)).toBe(results.reduce((s, r) => s + proBatchCost(r.response.usageMetadata), 0));
    // Settled once: another tick records nothing more.
    expect(await gw.gateway.batches.follower.tick()).toMatchObject({ settled: 0 });
    expect(await records(created.name!)).toHaveLength(3);

    // Reports split batch and standard spend.
    const report = await request(`${gw.url}/v1/usage?groupBy=batch`, { headers: { authorization: `Bearer ${TENANT_KEY}` } });
    const json = (await report.body.json()) as { rows: Array<{ batch: string; requests: number }> };
    expect(json.rows).toEqual([expect.objectContaining({ batch: 'batch', requests: 3 })]);
    // A batch's records are found by its name, as a request's are by its id.
    const byName = await request(`${gw.url}/v1/usage/requests/${encodeURIComponent(created.name!)}`, { headers: { authorization: `Bearer ${TENANT_KEY}` } });
    expect(byName.statusCode).toBe(200);
    expect(((await byName.body.json()) as { calls: unknown[] }).calls).toHaveLength(3);
  });

  it('accepts the legacy SDK multipart upload as a batch input', async () => {
    const manager = new GoogleAIFileManager(TENANT_KEY, { baseUrl: gw.url });
    const up = await manager.uploadFile(Buffer.from(`${line('x', 'hello')}\n`), { mimeType: 'application/jsonl', displayName: 'legacy' });
    expect(up.file).toMatchObject({ name: expect.stringMatching(/^files\/[0-9a-f]{20}$/), displayName: 'legacy' });
    const created = await ai().batches.create({ model: 'nano-banana-pro', src: up.file.name });
    expect(created.state).toBe('JOB_STATE_PENDING');
  });

  it('refuses a file that is not a batch input, naming the line at fault', async () => {
    const path = writeJsonl('bad.jsonl', [line('a', 'ok'), '{"key": "b"}']);
    const file = await ai().files.upload({ file: path, config: { mimeType: 'application/jsonl' } });
    await expect(ai().batches.create({ model: 'nano-banana-pro', src: file.name! })).rejects.toThrow(/line 2: the line has no .{0,2}"request/);
    expect(mock.batches.batches()).toHaveLength(0);
  });
});

describe('inline batches, with @google/genai', () => {
  it("answers Google's operation with the responses inline, under the gateway's names, and meters them", async () => {
    const created = await ai().batches.create({
      model: 'gemini-nano-banana-2.1',
      src: [
        { contents: [{ parts: [{ text: 'one' }] }], metadata: { key: 'one' } },
        { contents: [{ parts: [{ text: 'two' }] }], config: { imageConfig: { imageSize: '2K' } }, metadata: { key: 'two' } },
      ],
      config: { displayName: 'inline' },
    });
    mock.batches.finishBatches();
    const done = await ai().batches.get({ name: created.name! });
    expect(done).toMatchObject({ name: created.name, state: 'JOB_STATE_SUCCEEDED', displayName: 'inline' });
    const responses = done.dest?.inlinedResponses ?? [];
    expect(responses.map((r) => r.metadata)).toEqual([{ key: 'one' }, { key: 'two' }]);
    expect(responses[0]?.response?.candidates?.[0]?.content?.parts?.some((p) => p.inlineData?.data === mock.imageBase64())).toBe(true);
    await gw.gateway.batches.follower.tick();
    const recs = await records(created.name!);
    expect(recs.map((r) => [r.outputImageTokens, r.batch])).toEqual(expect.arrayContaining([[1120, true], [1680, true]]));
    expect(recs).toHaveLength(2);
  });
});

describe('aliases in a batch', () => {
  it("resolves a request's own model name like the path's, and refuses a second model", async () => {
    await ai().batches.create({ model: 'nano-banana-pro', src: [{ model: 'NANO-BANANA-PRO', contents: [{ parts: [{ text: 'x' }] }] }] });
    const sent = JSON.parse(mock.received.find((r) => r.path.endsWith(':batchGenerateContent'))!.body.toString()) as { batch: { inputConfig: { requests: { requests: Array<{ request: { model: string } }> } } } };
    expect(sent.batch.inputConfig.requests.requests[0]!.request.model).toBe('models/gemini-3-pro-image');
    await expect(ai().batches.create({ model: 'nano-banana-pro', src: [{ model: 'nano-banana-2', contents: [{ parts: [{ text: 'x' }] }] }] })).rejects.toThrow(/a batch has one model/);
  });
});

describe('the batch lifecycle as a tenant drives it', () => {
  it("lists only the caller's batches, page by page, cancels one and deletes another", async () => {
    const one = await ai().batches.create({ model: 'nano-banana-pro', src: [{ contents: [{ parts: [{ text: 'x' }] }] }] });
    const two = await ai().batches.create({ model: 'nano-banana-pro', src: [{ contents: [{ parts: [{ text: 'y' }] }] }] });
    await ai(OTHER_TENANT_KEY).batches.create({ model: 'nano-banana-pro', src: [{ contents: [{ parts: [{ text: 'z' }] }] }] });
    const names: string[] = [];
    for await (const job of await ai().batches.list({ config: { pageSize: 1 } })) names.push(job.name!);
    expect(names.sort()).toEqual([one.name, two.name].sort());

    await ai().batches.cancel({ name: one.name! });
    expect((await ai().batches.get({ name: one.name! })).state).toBe('JOB_STATE_CANCELLED');
    await gw.gateway.batches.follower.tick();
    // Cancelled before anything was done: settled with no record.
    expect(await records(one.name!)).toEqual([]);
    expect((await gw.gateway.db.getBatch(one.name!))?.settledAtMs).not.toBeNull();

    await ai().batches.delete({ name: two.name! });
    await expect(ai().batches.get({ name: two.name! })).rejects.toThrow(/404/);
    // Deleted before it was settled: still followed, then deleted at Google once metered.
    mock.batches.finishBatches();
    await gw.gateway.batches.follower.tick();
    expect(await records(two.name!)).toHaveLength(1);
    expect(mock.batches.batches().some((b) => b.displayName === `nanogate:${two.name!.slice(8)}`)).toBe(false);
  });

  it('settles a batch that expired or failed for the responses Google reports done, errors at $0', async () => {
    const path = writeJsonl('four.jsonl', ['1', '2', '3', '4'].map((k) => line(k, `banana ${k}`)));
    const file = await ai().files.upload({ file: path, config: { mimeType: 'application/jsonl' } });
    const created = await ai().batches.create({ model: 'nano-banana-pro', src: file.name! });
    mock.batches.finishBatches({ to: 'BATCH_STATE_EXPIRED', done: 3, failRequests: [1] });
    await gw.gateway.batches.follower.tick();
    const recs = (await records(created.name!)).sort((a, b) => a.latencyMs - b.latencyMs);
    expect(recs).toHaveLength(3);
    const failed = recs.filter((r) => r.flags.includes('upstream_error'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ httpStatus: 400, costNanoUsd: 0, finishReason: 'INVALID_ARGUMENT' });
    expect(recs.filter((r) => r.costNanoUsd > 0)).toHaveLength(2);
  });
});

describe('ownership', () => {
  it("answers 404 for another tenant's batch and file, as if they did not exist, and never forwards a name it did not make", async () => {
    const path = writeJsonl('owned.jsonl', [line('a', 'mine')]);
    const file = await ai().files.upload({ file: path, config: { mimeType: 'application/jsonl' } });
    const batch = await ai().batches.create({ model: 'nano-banana-pro', src: file.name! });
    mock.batches.finishBatches();
    const done = await ai().batches.get({ name: batch.name! });
    const other = ai(OTHER_TENANT_KEY);
    for (const attempt of [
      () => other.batches.get({ name: batch.name! }),
      () => other.batches.cancel({ name: batch.name! }),
      () => other.batches.delete({ name: batch.name! }),
      () => other.files.get({ name: file.name! }),
      () => other.files.delete({ name: file.name! }),
      () => other.files.download({ file: done.dest!.fileName!, downloadPath: join(dir, 'stolen.jsonl') }),
      () => other.batches.create({ model: 'nano-banana-pro', src: file.name! }),
      // Google's own names of the same objects are no names of the gateway's.
      () => ai().batches.get({ name: `batches/${mock.batches.batches()[0]!.id}` }),
      () => ai().files.get({ name: `files/${mock.batches.files()[0]!.id}` }),
    ]) {
      await expect(attempt()).rejects.toThrow(/404|not found/i);
    }
    const listed: string[] = [];
    for await (const job of await other.batches.list()) listed.push(job.name!);
    expect(listed).toEqual([]);
    const raw = await request(`${gw.url}/v1beta/batches/${batch.name!.slice(8)}`, { headers: { 'x-goog-api-key': OTHER_TENANT_KEY } });
    expect(raw.statusCode).toBe(404);
    expect(await raw.body.json()).toMatchObject({ error: { code: 404, status: 'NOT_FOUND' } });
    // Only the one create of the owner reached Google.
    expect(mock.batches.batches()).toHaveLength(1);
  });
});

describe('admission', () => {
  it("refuses a batch its tenant's budget cannot hold at Batch prices, in Google's 429 shape, before anything reaches Google", async () => {
    // 10 Pro 4K images at $0.12 each in Batch: $1.20, over the tenant's $0.50 a day.
    const src = Array.from({ length: 10 }, (_, i) => ({ contents: [{ parts: [{ text: `poster ${i}` }] }], config: { imageConfig: { imageSize: '4K' } } }));
    const res = await request(`${gw.url}/v1beta/models/nano-banana-pro:batchGenerateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': BUDGET_TENANT_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ batch: { displayName: 'too much', inputConfig: { requests: { requests: src.map((r) => ({ request: { contents: r.contents, generationConfig: { imageConfig: { imageSize: '4K' } } } })) } } } }),
    });
    expect(res.statusCode).toBe(429);
    const body = (await res.body.json()) as { error: { status: string; details: Array<Record<string, unknown>> } };
    expect(body.error.status).toBe('RESOURCE_EXHAUSTED');
    expect(body.error.details[0]).toMatchObject({ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'BUDGET_EXCEEDED', metadata: { tenant: 'frugal', period: 'daily' } });
    expect(mock.batches.batches()).toHaveLength(0);
    // Two fit: $0.24 of $0.50; their hold is shown.
    const small = await ai(BUDGET_TENANT_KEY).batches.create({ model: 'nano-banana-pro', src: src.slice(0, 2) });
    expect(small.state).toBe('JOB_STATE_PENDING');
  });

  it("refuses a batch past the project's enqueued batch tokens with QuotaFailure, and admits again once a batch ends", async () => {
    const make = (text: string) => ai().batches.create({ model: 'nano-banana-2', src: [{ contents: [{ parts: [{ text }] }] }] });
    // 60 tokens of text each (240 bytes / 4) against a limit of 100.
    const first = await make('a'.repeat(240));
    const refused = await make('b'.repeat(240)).catch((e: unknown) => e as Error);
    expect(refused).toBeInstanceOf(Error);
    expect(String((refused as Error).message)).toMatch(/429/);
    const raw = await request(`${gw.url}/v1beta/models/nano-banana-2:batchGenerateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': TENANT_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ batch: { inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: 'c'.repeat(240) }] }] } }] } } } }),
    });
    expect(raw.statusCode).toBe(429);
    expect(raw.headers['retry-after']).toBeDefined();
    const body = (await raw.body.json()) as { error: { details: Array<Record<string, unknown>> } };
    expect(body.error.details[0]).toMatchObject({
      '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
      violations: [{ quotaId: 'BatchEnqueuedTokensPerProjectPerModel-PaidTier', quotaValue: '100', quotaDimensions: { model: 'gemini-nano-banana-2.1' } }],
    });
    mock.batches.finishBatches();
    await gw.gateway.batches.follower.tick();
    expect((await gw.gateway.db.getBatch(first.name!))?.active).toBe(false);
    expect((await make('d'.repeat(240))).state).toBe('JOB_STATE_PENDING');
  });
});

describe('a batch whose create answer was lost', () => {
  it('is found at Google by its tag and followed, or, never having reached Google, released', async () => {
    const db = gw.gateway.db;
    const old = Date.now() - 3_600_000;
    const row = (id: string) => ({
      name: `batches/${id}`,
      tenantId: 'design',
      keyId: 'key_cfg',
      projectId: 'default',
      model: 'gemini-3-pro-image',
      googleName: null,
      state: 'SUBMITTING',
      enqueuedTokens: 10,
      active: true,
      settledAtMs: null,
      deletedAtMs: null,
      createdAtMs: old,
      updatedAtMs: old,
      doc: { face: 'native', modelAsked: 'nano-banana-pro', displayName: 'lost', requestCount: 1, input: { kind: 'inline' }, imageSize: null, holdNanoUsd: '0', reservation: null, google: {} },
    });
    const found = 'aaaaaaaaaaaaaaaaaaaa';
    const never = 'bbbbbbbbbbbbbbbbbbbb';
    await db.admitBatch(row(found), undefined);
    await db.admitBatch(row(never), undefined);
    // Google did create the first (the answer never came back).
    const created = await request(`${mock.url}/v1beta/models/gemini-3-pro-image:batchGenerateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': 'test-google-key', 'content-type': 'application/json' },
      body: JSON.stringify({ batch: { displayName: `nanogate:${found}`, inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: 'x' }] }] } }] } } } }),
    });
    const googleName = ((await created.body.json()) as { name: string }).name;
    await gw.gateway.batches.follower.tick();
    expect(await db.getBatch(`batches/${found}`)).toMatchObject({ googleName, state: 'BATCH_STATE_PENDING', active: true, settledAtMs: null });
    expect(await db.getBatch(`batches/${never}`)).toMatchObject({ googleName: null, state: 'BATCH_STATE_FAILED', active: false, settledAtMs: expect.any(Number) });
    // The found one is followed to its end and metered.
    mock.batches.finishBatches();
    await gw.gateway.batches.follower.tick();
    expect(await records(`batches/${found}`)).toHaveLength(1);
    expect((await ai().batches.get({ name: `batches/${never}` })).state).toBe('JOB_STATE_FAILED');
  });
});
