/**
 * Vertex AI as a project kind (#17.3) end to end: a gateway whose tenants' projects are Vertex AI
 * projects, driven by the real @google/genai and openai clients, against the mock serving
 * Vertex's paths and a local OAuth token endpoint (the key file's token_uri). Never Google.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GoogleGenAI } from '@google/genai';
import OpenAI, { toFile } from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/tenants/keys.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { makeServiceAccount } from '../mock-google/vertex.js';
import { ADMIN_TOKEN, GOOGLE_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const VERTEX_KEY = 'tenant-key-vertex';
const BROKEN_KEY = 'tenant-key-vertex-broken';
const POOL_KEY = 'tenant-key-vertex-pool';
const GEMINI_KEY = 'tenant-key-gemini';
const VERTEX_PATH = '/v1/projects/my-gcp-project/locations/us-central1/publishers/google/models';
const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };

let mock: MockGoogle;
let gw: RunningGateway;
let dir: string;

/**
 * Projects: `vx`, a Vertex AI project whose key file the mock's token endpoint knows; `vbroken`,
 * one whose service account it does not; `pooled` (Vertex) and `gem` (Gemini API) in one pool.
 * Vertex's prices for Pro are set apart (a made-up 150 $/M image rate) so its calls show which
 * list priced them.
 */
function config(keyFile: string, strangerFile: string): string {
  return `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 2 }
defaultModel: nano-banana-pro
projects:
  - id: vx
    kind: vertex
    vertex: { project: my-gcp-project, location: us-central1, credentials: ${keyFile}, baseUrl: $UPSTREAM }
    tier: tier3
  - id: vbroken
    kind: vertex
    vertex: { project: broken-project, location: us-central1, credentials: ${strangerFile}, baseUrl: $UPSTREAM }
  - id: pooled
    kind: vertex
    vertex: { project: pooled-project, location: global, credentials: ${keyFile}, baseUrl: $UPSTREAM }
  - { id: gem, apiKey: ${GOOGLE_KEY}, tier: tier3 }
pools:
  - { id: mixed, projects: [{ project: pooled }, { project: gem }] }
tenants:
  - { id: design, project: vx, keys: ["${hashKey(VERTEX_KEY)}"] }
  - { id: broken, project: vbroken, keys: ["${hashKey(BROKEN_KEY)}"] }
  - { id: pooling, pool: mixed, keys: ["${hashKey(POOL_KEY)}"] }
  - { id: plain, project: gem, keys: ["${hashKey(GEMINI_KEY)}"] }
models:
  override:
    gemini-3-pro-image:
      vertexPrices:
        - { from: 2025-11-20, standard: { input: 2, textOutput: 12, imageOutput: 150 }, batch: { input: 1, textOutput: 6, imageOutput: 75 } }
database: { path: $DB_PATH }
`;
}

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY], imageBytes: { '2K': 6000 } });
  dir = mkdtempSync(join(tmpdir(), 'nanogate-vertex-e2e-'));
  const account = makeServiceAccount(`${mock.url}/token`);
  mock.vertex.addServiceAccount(account.email, account.publicKeyPem);
  const stranger = makeServiceAccount(`${mock.url}/token`, 'stranger@other-project.iam.gserviceaccount.com');
  const keyFile = join(dir, 'sa.json');
  const strangerFile = join(dir, 'stranger.json');
  writeFileSync(keyFile, JSON.stringify(account.keyFile));
  writeFileSync(strangerFile, JSON.stringify(stranger.keyFile));
  gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(keyFile, strangerFile) });
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => mock.reset());

const generations = () => mock.received.filter((r) => /:(stream)?[gG]enerateContent$/.test(r.path));
const genai = (key = VERTEX_KEY) => new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: gw.url } });
const openai = (key = VERTEX_KEY) => new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });

function post(path: string, body: unknown, headers: Record<string, string>) {
  return request(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

interface UsageRow {
  project: string;
  requests: number;
  costUsd: string;
}

async function usageByProject(tenant: string): Promise<UsageRow[]> {
  await gw.gateway.ledger.flush();
  // This month (Pacific), where the gateway's clock is.
  const res = await request(`${gw.url}/admin/usage?groupBy=project&tenant=${tenant}`, { headers: bearer });
  const body = (await res.body.json()) as { rows: UsageRow[] };
  expect(res.statusCode, JSON.stringify(body)).toBe(200);
  return body.rows;
}

describe('a Vertex AI project serving the native face', () => {
  it("relays @google/genai's generateContent to Vertex's endpoint with a bearer token, and Vertex's answer back as sent", async () => {
    const res = await genai().models.generateContent({
      model: 'nano-banana-pro',
      contents: 'A banana in a spacesuit',
      config: { responseModalities: ['IMAGE'], imageConfig: { aspectRatio: '16:9', imageSize: '2K' } },
    });
    const image = res.candidates?.[0]?.content?.parts?.find((p) => p.inlineData && !p.thought)?.inlineData;
    expect(image?.data).toBe(mock.imageBase64('2K'));
    const [seen] = generations();
    expect(seen?.path).toBe(`${VERTEX_PATH}/gemini-3-pro-image:generateContent`);
    expect(seen?.headers['authorization']).toMatch(/^Bearer ya29\.mock-/);
    expect(seen?.headers['x-goog-api-key']).toBeUndefined();
    // The body reaches Vertex as the client sent it.
    expect(JSON.parse(seen!.body.toString()).generationConfig.imageConfig).toEqual({ aspectRatio: '16:9', imageSize: '2K' });
  });

  it('streams generateContentStream from Vertex as server-sent events', async () => {
    const stream = await genai().models.generateContentStream({ model: 'nano-banana-2', contents: 'A watercolor banana' });
    const images: string[] = [];
    let last;
    for await (const chunk of stream) {
      last = chunk;
      for (const p of chunk.candidates?.[0]?.content?.parts ?? []) if (p.inlineData?.data && !p.thought) images.push(p.inlineData.data);
    }
    expect(images).toEqual([mock.imageBase64()]);
    expect(last?.usageMetadata?.candidatesTokenCount).toBeGreaterThan(0);
    const [seen] = generations();
    expect(seen?.path).toBe(`${VERTEX_PATH}/gemini-nano-banana-2.1:streamGenerateContent`);
    expect(seen?.query).toEqual({ alt: 'sse' });
  });

  it("relays the raw bytes, headers and cost of Vertex's answer, as for the Gemini API", async () => {
    const res = await post('/v1beta/models/nano-banana-pro:generateContent', { contents: [{ parts: [{ text: 'a banana' }] }] }, { 'x-goog-api-key': VERTEX_KEY });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-nanogate-model']).toBe('gemini-3-pro-image');
    const text = await res.body.text();
    expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2).replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`);
  });

  it("counts tokens on Vertex's countTokens", async () => {
    const res = await genai().models.countTokens({ model: 'nano-banana-pro', contents: 'A banana' });
    expect(res.totalTokens).toBeGreaterThan(0);
    expect(mock.received.at(-1)?.path).toBe(`${VERTEX_PATH}/gemini-3-pro-image:countTokens`);
  });

  it("relays Vertex's own errors in Google's envelope", async () => {
    mock.setVertexProjectFault('my-gcp-project', { kind: 'status', status: 400 });
    try {
      const res = await post('/v1beta/models/nano-banana-pro:generateContent', { contents: [{ parts: [{ text: 'a banana' }] }] }, { 'x-goog-api-key': VERTEX_KEY });
      expect(res.statusCode).toBe(400);
      expect(await res.body.json()).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT' } });
    } finally {
      mock.setVertexProjectFault('my-gcp-project', undefined);
    }
  });
});

describe('a Vertex AI project serving the OpenAI face', () => {
  it('generates an image through images.generate, priced at Vertex prices', async () => {
    const res = await openai().images.generate({ model: 'nano-banana-pro', prompt: 'A banana in a spacesuit', size: '2K' as never });
    expect(res.data?.[0]?.b64_json).toBe(mock.imageBase64('2K'));
    const [seen] = generations();
    expect(seen?.path).toBe(`${VERTEX_PATH}/gemini-3-pro-image:generateContent`);
    expect(JSON.parse(seen!.body.toString()).generationConfig.imageConfig).toMatchObject({ imageSize: '2K' });
    // 1120 image tokens at Vertex's 150 $/M (the override), not the Gemini API's 120 $/M.
    const usage = res.usage as unknown as { output_tokens_details?: { image_tokens?: number }; cost_usd: string };
    expect(Number(usage.cost_usd)).toBeGreaterThan(1120 * 150e-6);
    const gemini = await openai(GEMINI_KEY).images.generate({ model: 'nano-banana-pro', prompt: 'A banana in a spacesuit', size: '2K' as never });
    expect(Number((gemini.usage as unknown as { cost_usd: string }).cost_usd)).toBeLessThan(1120 * 150e-6);
  });

  it('edits an image through images.edit', async () => {
    const png = Buffer.from(mock.imageBase64(), 'base64');
    const res = await openai().images.edit({ model: 'nano-banana-2', prompt: 'Make it pop art', image: [await toFile(png, 'banana.png', { type: 'image/png' })] });
    expect(res.data?.[0]?.b64_json).toBe(mock.imageBase64());
    expect(generations()[0]?.path).toBe(`${VERTEX_PATH}/gemini-nano-banana-2.1:generateContent`);
  });

  it('answers chat completions with the image', async () => {
    const res = await openai().chat.completions.create({ model: 'nano-banana-2', messages: [{ role: 'user', content: 'A banana' }] });
    const message = res.choices[0]!.message as unknown as { images?: Array<{ image_url: { url: string } }> };
    expect(message.images?.[0]?.image_url.url).toBe(`data:image/png;base64,${mock.imageBase64()}`);
  });
});

describe("a Vertex AI project's access token", () => {
  it('is fetched once and reused by every call, however many run at once', async () => {
    const fresh = await startGateway({ upstreamUrl: mock.url, configYaml: config(join(dir, 'sa.json'), join(dir, 'stranger.json')) });
    try {
      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          request(`${fresh.url}/v1beta/models/nano-banana-2:generateContent`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-goog-api-key': VERTEX_KEY },
            body: JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] }),
          }),
        ),
      );
      expect(await Promise.all(answers.map(async (a) => (await a.body.dump(), a.statusCode)))).toEqual(Array(8).fill(200));
      expect(mock.vertex.tokenRequests()).toBe(1);
      expect(new Set(generations().map((r) => r.headers['authorization'])).size).toBe(1);
      // Never in a log line.
      const token = mock.vertex.issuedTokens()[0]!;
      expect(fresh.logs.join('')).not.toContain(token);
    } finally {
      await fresh.close();
    }
  });

  it("that cannot be had is the project's refusal in each face's shape, never a 500, and the operator is told", async () => {
    const native = await post('/v1beta/models/nano-banana-pro:generateContent', { contents: [{ parts: [{ text: 'a banana' }] }] }, { 'x-goog-api-key': BROKEN_KEY });
    expect(native.statusCode).toBe(503);
    const nativeBody = (await native.body.json()) as { error: { status: string; message: string } };
    expect(nativeBody.error.status).toBe('UNAVAILABLE');
    expect(nativeBody.error.message).toContain('Vertex AI credentials were not accepted');
    const e = await openai(BROKEN_KEY)
      .images.generate({ model: 'nano-banana-pro', prompt: 'x' })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OpenAI.APIError);
    expect((e as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((e as InstanceType<typeof OpenAI.APIError>).message).toContain('Vertex AI credentials were not accepted');
    // Nothing reached Vertex; the operator sees the project refused in /readyz and the log.
    expect(generations()).toHaveLength(0);
    const ready = (await gw.gateway.app.inject({ url: '/readyz' })).json() as { checks: Record<string, string> };
    expect(ready.checks['upstream']).toContain('project vbroken refused by Google');
    expect(gw.logs.join('')).toContain('invalid_grant: Invalid grant: account not found');
    // The call is on record, at no cost, naming the project.
    expect(await usageByProject('broken')).toEqual([expect.objectContaining({ project: 'vbroken', costUsd: '0.000000' })]);
  });
});

describe('what only the Gemini API has', () => {
  it('is refused clearly for a Vertex AI project on both faces: file uploads and batches', async () => {
    const upload = await request(`${gw.url}/upload/v1beta/files`, { method: 'POST', headers: { 'x-goog-api-key': VERTEX_KEY, 'content-type': 'application/jsonl' }, body: '{"key":"a"}\n' });
    expect(upload.statusCode).toBe(501);
    const uploadBody = (await upload.body.json()) as { error: { status: string; message: string } };
    expect(uploadBody.error.status).toBe('UNIMPLEMENTED');
    expect(uploadBody.error.message).toContain('Project vx is a Vertex AI project');
    const batch = await post(
      '/v1beta/models/nano-banana-pro:batchGenerateContent',
      { batch: { inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: 'a' }] }] }, metadata: { key: 'a' } }] } } } },
      { 'x-goog-api-key': VERTEX_KEY },
    );
    expect(batch.statusCode).toBe(501);
    expect(((await batch.body.json()) as { error: { message: string } }).error.message).toContain('Vertex AI project');
    const e = await openai()
      .files.create({ file: await toFile(Buffer.from(`${JSON.stringify({ custom_id: 'p1', method: 'POST', url: '/v1/images/generations', body: { model: 'nano-banana-pro', prompt: 'x' } })}\n`), 'requests.jsonl'), purpose: 'batch' })
      .catch((err: unknown) => err);
    expect((e as InstanceType<typeof OpenAI.APIError>).status).toBe(501);
    expect((e as InstanceType<typeof OpenAI.APIError>).message).toContain('Vertex AI project');
    expect(mock.received).toHaveLength(0);
  });
});

describe('a Vertex AI project in a pool', () => {
  it("is admitted like any other, and a Vertex 429 spills the call onto the pool's next project", async () => {
    const first = await post('/v1beta/models/nano-banana-2:generateContent', { contents: [{ parts: [{ text: 'a' }] }] }, { 'x-goog-api-key': POOL_KEY });
    expect(first.statusCode).toBe(200);
    await first.body.dump();
    expect(generations()[0]?.path).toBe('/v1/projects/pooled-project/locations/global/publishers/google/models/gemini-nano-banana-2.1:generateContent');
    mock.setVertexProjectFault('pooled-project', { kind: 'rateLimit', retryDelay: '30s' });
    const spilled = await post('/v1beta/models/nano-banana-2:generateContent', { contents: [{ parts: [{ text: 'a' }] }] }, { 'x-goog-api-key': POOL_KEY });
    expect(spilled.statusCode).toBe(200);
    await spilled.body.dump();
    expect(generations().at(-1)?.path).toBe('/v1beta/models/gemini-nano-banana-2.1:generateContent');
    expect(generations().at(-1)?.headers['x-goog-api-key']).toBe(GOOGLE_KEY);
    const rows = await usageByProject('pooling');
    expect(rows.map((r) => [r.project, r.requests]).sort()).toEqual([
      ['gem', 1],
      ['pooled', 2],
    ]);
  });
});

describe('usage records', () => {
  it('name the Vertex AI project that served the call', async () => {
    const rows = await usageByProject('design');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.project === 'vx')).toBe(true);
    const listed = (await gw.gateway.app.inject({ url: '/admin/projects', headers: bearer })).json() as { projects: Array<Record<string, unknown>> };
    expect(listed.projects.find((p) => p['id'] === 'vx')).toMatchObject({ kind: 'vertex', vertex: { project: 'my-gcp-project', location: 'us-central1' } });
    expect(listed.projects.find((p) => p['id'] === 'gem')).toMatchObject({ kind: 'gemini' });
  });
});
