import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GoogleGenAI } from '@google/genai';
import { GoogleAIFileManager } from '@google/generative-ai/server';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from './server.js';

let mock: MockGoogle;
let dir: string;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: ['k'] });
  dir = mkdtempSync(join(tmpdir(), 'mock-batches-'));
});
afterAll(async () => {
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => mock.reset());

const ai = () => new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: mock.url } });
const line = (key: string, text: string, size?: string) =>
  JSON.stringify({ key, request: { contents: [{ parts: [{ text }] }], ...(size ? { generationConfig: { imageConfig: { imageSize: size } } } : {}) } });

describe('the mock Batch and Files API, as @google/genai sees it', () => {
  it('uploads a JSONL file, runs a batch from it and serves the result file line by line with usage per response', async () => {
    const path = join(dir, 'in.jsonl');
    writeFileSync(path, `${line('a', 'a red banana', '2K')}\n${line('b', 'a blue banana')}\n`);
    const file = await ai().files.upload({ file: path, config: { mimeType: 'application/jsonl', displayName: 'input' } });
    expect(file).toMatchObject({ name: expect.stringMatching(/^files\//), mimeType: 'application/jsonl', sizeBytes: String(readFileSync(path).length), state: 'ACTIVE', source: 'UPLOADED' });
    const created = await ai().batches.create({ model: 'gemini-3-pro-image', src: file.name!, config: { displayName: 'posters' } });
    expect(created).toMatchObject({ name: expect.stringMatching(/^batches\//), state: 'JOB_STATE_PENDING', displayName: 'posters', model: 'models/gemini-3-pro-image' });
    mock.batches.advanceBatches();
    expect((await ai().batches.get({ name: created.name! })).state).toBe('JOB_STATE_RUNNING');
    mock.batches.advanceBatches();
    const done = await ai().batches.get({ name: created.name! });
    expect(done.state).toBe('JOB_STATE_SUCCEEDED');
    expect(done.dest?.fileName).toMatch(/^files\/batch-/);
    const out = join(dir, 'out.jsonl');
    await ai().files.download({ file: done.dest!.fileName!, downloadPath: out });
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; response: { usageMetadata: Record<string, unknown> } });
    expect(lines.map((l) => l.key)).toEqual(['a', 'b']);
    expect(lines[0]!.response.usageMetadata).toMatchObject({ candidatesTokensDetails: expect.arrayContaining([{ modality: 'IMAGE', tokenCount: 1120 }]) });
  });

  it('runs an inline batch and answers its responses in the batch, in request order', async () => {
    const created = await ai().batches.create({
      model: 'gemini-nano-banana-2.1',
      src: [
        { contents: [{ parts: [{ text: 'one' }] }], metadata: { key: 'one' } },
        { contents: [{ parts: [{ text: 'two' }] }], config: { imageConfig: { imageSize: '4K' } }, metadata: { key: 'two' } },
      ],
    });
    mock.batches.finishBatches();
    const done = await ai().batches.get({ name: created.name! });
    const responses = done.dest?.inlinedResponses ?? [];
    expect(responses.map((r) => r.metadata)).toEqual([{ key: 'one' }, { key: 'two' }]);
    expect(responses[1]?.response?.usageMetadata?.candidatesTokensDetails).toContainEqual({ modality: 'IMAGE', tokenCount: 3780 });
  });

  it('lists, cancels and deletes batches', async () => {
    const a = await ai().batches.create({ model: 'gemini-3-pro-image', src: [{ contents: [{ parts: [{ text: 'x' }] }] }] });
    const b = await ai().batches.create({ model: 'gemini-3-pro-image', src: [{ contents: [{ parts: [{ text: 'y' }] }] }] });
    const names: string[] = [];
    for await (const job of await ai().batches.list({ config: { pageSize: 1 } })) names.push(job.name!);
    expect(names.sort()).toEqual([a.name, b.name].sort());
    await ai().batches.cancel({ name: a.name! });
    expect((await ai().batches.get({ name: a.name! })).state).toBe('JOB_STATE_CANCELLED');
    await ai().batches.delete({ name: b.name! });
    await expect(ai().batches.get({ name: b.name! })).rejects.toThrow(/404|not found/i);
  });

  it('accepts the legacy SDK multipart upload, and gets and deletes files', async () => {
    const manager = new GoogleAIFileManager('k', { baseUrl: mock.url });
    const up = await manager.uploadFile(Buffer.from(`${line('x', 'hello')}\n`), { mimeType: 'application/jsonl', displayName: 'legacy' });
    expect(up.file).toMatchObject({ displayName: 'legacy', mimeType: 'application/jsonl', source: 'UPLOADED' });
    expect((await ai().files.get({ name: up.file.name })).displayName).toBe('legacy');
    await ai().files.delete({ name: up.file.name });
    await expect(ai().files.get({ name: up.file.name })).rejects.toThrow(/404|not found/i);
  });

  it('ends a batch as failed, cancelled or expired with the responses done so far, and answers errors per request', async () => {
    const path = join(dir, 'three.jsonl');
    writeFileSync(path, ['1', '2', '3'].map((k) => line(k, `banana ${k}`)).join('\n'));
    const file = await ai().files.upload({ file: path, config: { mimeType: 'application/jsonl' } });
    const created = await ai().batches.create({ model: 'gemini-3-pro-image', src: file.name! });
    mock.batches.finishBatches({ to: 'BATCH_STATE_EXPIRED', done: 2, failRequests: [1] });
    const done = await ai().batches.get({ name: created.name! });
    expect(done.state).toBe('JOB_STATE_EXPIRED');
    const out = join(dir, 'expired.jsonl');
    await ai().files.download({ file: done.dest!.fileName!, downloadPath: out });
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ key: '2', error: { code: 400, status: 'INVALID_ARGUMENT' } });
  });
});
