/**
 * #16 on the OpenAI face, with the real `openai` SDK: an image batch file uploaded, run as one
 * Google batch, followed, and its output read in OpenAI's batch output format.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { tinyPng } from '../mock-google/images.js';
import { BUDGET_TENANT_KEY, OTHER_TENANT_KEY, TENANT_KEY, startBatchGateway, type BatchGateway } from '../support/batch-gateway.js';

let mock: MockGoogle;
let gw: BatchGateway;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: ['test-google-key'] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(async () => {
  mock.reset();
  gw = await startBatchGateway({ upstreamUrl: mock.url });
});
afterEach(async () => {
  await gw?.close();
});

const client = (key = TENANT_KEY) => new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const jsonl = (lines: unknown[]) => `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
const gen = (id: string, body: Record<string, unknown>) => ({ custom_id: id, method: 'POST', url: '/v1/images/generations', body: { model: 'nano-banana-pro', ...body } });

async function upload(text: string, key = TENANT_KEY) {
  return client(key).files.create({ file: await toFile(Buffer.from(text), 'requests.jsonl', { type: 'application/jsonl' }), purpose: 'batch' });
}

describe('image batches with the openai SDK', () => {
  it('uploads, creates, retrieves and reads the output file: one line per request, custom_id kept, b64_json images', async () => {
    const text = jsonl([gen('poster-1', { prompt: 'A banana poster', size: '2K' }), gen('poster-2', { prompt: 'Two bananas', n: 2 }), gen('poster-3', { prompt: 'A wide banana', size: '1536x1024' })]);
    const file = await upload(text);
    expect(file).toMatchObject({ id: expect.stringMatching(/^file-[0-9a-f]{20}$/), object: 'file', purpose: 'batch', bytes: Buffer.byteLength(text), filename: 'requests.jsonl', status: 'processed' });

    const batch = await client().batches.create({ input_file_id: file.id, endpoint: '/v1/images/generations', completion_window: '24h', metadata: { name: 'posters' } });
    expect(batch).toMatchObject({ id: expect.stringMatching(/^batch_[0-9a-f]{20}$/), object: 'batch', endpoint: '/v1/images/generations', input_file_id: file.id, status: 'validating', metadata: { name: 'posters' } });
    // One Google batch, from the translated file: n=2 became two requests.
    const [atGoogle] = mock.batches.batches();
    expect(atGoogle?.requests).toHaveLength(4);
    expect(atGoogle?.requests[0]?.request).toMatchObject({ generationConfig: { responseModalities: ['IMAGE'], imageConfig: { imageSize: '2K' } } });

    mock.batches.advanceBatches();
    expect((await client().batches.retrieve(batch.id)).status).toBe('in_progress');
    mock.batches.advanceBatches();
    const done = await client().batches.retrieve(batch.id);
    expect(done).toMatchObject({ status: 'completed', output_file_id: expect.stringMatching(/^file-r[0-9a-f]{20}$/), request_counts: { total: 4, completed: 4, failed: 0 } });

    const content = await client().files.content(done.output_file_id!);
    const lines = (await content.text()).trim().split('\n').map((l) => JSON.parse(l) as { id: string; custom_id: string; response: { status_code: number; request_id: string; body: { created: number; data: Array<{ b64_json: string }>; usage: { output_tokens_details: { image_tokens: number } } } }; error: null });
    expect(lines.map((l) => l.custom_id)).toEqual(['poster-1', 'poster-2', 'poster-3']);
    expect(lines.map((l) => l.response.status_code)).toEqual([200, 200, 200]);
    expect(lines[0]!.response.body.data).toEqual([{ b64_json: mock.imageBase64('2K') }]);
    expect(lines[1]!.response.body.data).toHaveLength(2);
    expect(lines[1]!.response.body.usage.output_tokens_details.image_tokens).toBe(2240);
    expect(lines.every((l) => l.id.startsWith('batch_req_') && l.error === null)).toBe(true);

    await gw.gateway.batches.follower.tick();
    const recs = await gw.gateway.db.usageByRequest(`batches/${batch.id.slice('batch_'.length)}`);
    expect(recs).toHaveLength(4);
    expect(recs.every((r) => r.batch && r.route === 'openai.batches' && r.modelAsked === 'nano-banana-pro' && r.model === 'gemini-3-pro-image')).toBe(true);
  });

  it('expresses image edits given as data: URLs, and refuses what a batch cannot carry, naming the line', async () => {
    const png = `data:image/png;base64,${tinyPng().base64}`;
    const edit = { custom_id: 'edit-1', method: 'POST', url: '/v1/images/edits', body: { model: 'nano-banana-2', prompt: 'Make it pop art', images: [{ image_url: png }] } };
    const file = await upload(jsonl([edit]));
    const batch = await client().batches.create({ input_file_id: file.id, endpoint: '/v1/images/edits', completion_window: '24h' });
    expect(batch.status).toBe('validating');
    const parts = (mock.batches.batches()[0]?.requests[0]?.request as { contents: Array<{ parts: Array<Record<string, unknown>> }> }).contents[0]!.parts;
    expect(parts).toContainEqual({ inlineData: { mimeType: 'image/png', data: tinyPng().base64 } });

    const remote = { ...edit, body: { ...edit.body, images: [{ image_url: 'https://example.com/banana.png' }] } };
    await expect(upload(jsonl([{ ...edit, custom_id: 'ok' }, remote]))).rejects.toThrow(/Line 2 of the batch input file: .*data: URLs/);
    await expect(client().batches.create({ input_file_id: file.id, endpoint: '/v1/images/generations', completion_window: '24h' })).rejects.toThrow(/\/v1\/images\/edits/);
    await expect(upload(jsonl([{ custom_id: 'c', method: 'POST', url: '/v1/chat/completions', body: {} }]))).rejects.toMatchObject({ status: 400 });
  });

  it("lists only the caller's batches, cancels one, and hides other tenants' batches and files", async () => {
    const file = await upload(jsonl([gen('a', { prompt: 'a' })]));
    const one = await client().batches.create({ input_file_id: file.id, endpoint: '/v1/images/generations', completion_window: '24h' });
    const two = await client().batches.create({ input_file_id: file.id, endpoint: '/v1/images/generations', completion_window: '24h' });
    const theirs = await upload(jsonl([gen('b', { prompt: 'b' })]), OTHER_TENANT_KEY);
    await client(OTHER_TENANT_KEY).batches.create({ input_file_id: theirs.id, endpoint: '/v1/images/generations', completion_window: '24h' });

    const ids: string[] = [];
    for await (const b of client().batches.list({ limit: 1 })) ids.push(b.id);
    expect(ids.sort()).toEqual([one.id, two.id].sort());

    const cancelled = await client().batches.cancel(one.id);
    expect(['cancelling', 'cancelled']).toContain(cancelled.status);
    expect((await client().batches.retrieve(one.id)).status).toBe('cancelled');

    const other = client(OTHER_TENANT_KEY);
    await expect(other.batches.retrieve(one.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(other.batches.cancel(one.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(other.files.retrieve(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(other.batches.create({ input_file_id: file.id, endpoint: '/v1/images/generations', completion_window: '24h' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("refuses a batch the tenant's budget cannot hold at Batch prices with insufficient_quota, before anything reaches Google", async () => {
    // Ten Pro 4K images at $0.12 each in Batch: $1.20, over the tenant's $0.50 a day.
    const file = await upload(jsonl(Array.from({ length: 10 }, (_, i) => gen(`p${i}`, { prompt: `poster ${i}`, size: '4K' }))), BUDGET_TENANT_KEY);
    const refused = await client(BUDGET_TENANT_KEY).batches.create({ input_file_id: file.id, endpoint: '/v1/images/generations', completion_window: '24h' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('insufficient_quota');
    expect(mock.batches.batches()).toHaveLength(0);
  });
});
