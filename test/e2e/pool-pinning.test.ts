/**
 * Multi-turn stays on one project (#17.5), end to end: a pool of two projects, the mock of Google
 * telling them apart by their keys and refusing, as Google does, a thought signature or a file
 * of the other project. Gateways on one Redis share what they remember of signatures.
 */
import { randomBytes } from 'node:crypto';
import { GoogleGenAI, createPartFromUri } from '@google/genai';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { Content, Part } from '../../src/gemini/types.js';
import { hashKey } from '../../src/tenants/keys.js';
import { ManualClock } from '../../src/time/clock.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { ADMIN_TOKEN, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const KEY = 'pinning-tenant-key';
const KEY_A = 'pinning-google-key-a';
const KEY_B = 'pinning-google-key-b';
const MODEL = 'gemini-3-pro-image';

/** Projects a and b, pooled with b first; `rpm` of each for the model. */
function config(run: string, rpm: { a: number; b: number }): string {
  return `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 0 }
projects:
  - { id: ${run}-a, apiKey: ${KEY_A}, tier: tier1, limits: { ${MODEL}: { rpm: ${rpm.a} } } }
  - { id: ${run}-b, apiKey: ${KEY_B}, tier: tier1, limits: { ${MODEL}: { rpm: ${rpm.b} } } }
pools:
  - { id: ${run}-pool, projects: [{ project: ${run}-b }, { project: ${run}-a }] }
tenants:
  - { id: team, pool: ${run}-pool, keys: ["${hashKey(KEY)}"] }
database: { path: $DB_PATH }
`;
}

let mock: MockGoogle;
let clock: ManualClock;
let gateways: RunningGateway[] = [];
let run = '';

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [KEY_A, KEY_B] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => {
  mock.reset();
  clock = new ManualClock('2026-06-15T17:00:00Z');
});
afterEach(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  gateways = [];
});

async function fleet(count: number, rpm: { a: number; b: number }): Promise<RunningGateway[]> {
  run = `r${randomBytes(4).toString('hex')}`;
  for (let i = 0; i < count; i++) {
    gateways.push(await startGateway({ upstreamUrl: mock.url, configYaml: config(run, rpm), redisUrl: inject('redisUrl'), clock }));
  }
  return gateways;
}

async function generate(gw: RunningGateway, body: unknown, key = KEY) {
  const res = await request(`${gw.url}/v1beta/models/nano-banana-pro:generateContent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': key },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as Record<string, unknown> };
}

const ask = (text: string) => ({ contents: [{ role: 'user', parts: [{ text }] }] });
/** The model's turn of an answer: its non-thought parts, signatures included. */
const modelTurn = (answer: Record<string, unknown>): Content => ({
  role: 'model',
  parts: (answer as { candidates: Array<{ content: { parts: Part[] } }> }).candidates[0]!.content.parts.filter((p) => !p.thought),
});
const keysCalled = () => mock.received.filter((r) => /:(generateContent|countTokens)$/.test(r.path)).map((r) => r.headers['x-goog-api-key']);
const logLines = (gw: RunningGateway) => gw.logs.flatMap((l) => l.split('\n')).filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('thought signatures across a pool, on two gateways sharing Redis', () => {
  it('takes the next turn back to the project that signed it, from either instance, and refuses it with that project’s retry time when it is full', async () => {
    const [gw1, gw2] = await fleet(2, { a: 1, b: 1 });
    // b, first in the pool, is full for a minute: the first turn goes to a.
    expect((await generate(gw1!, ask('warm up'))).headers['x-nanogate-project']).toBe(`${run}-b`);
    const first = await generate(gw1!, ask('A red car'));
    expect(first.status).toBe(200);
    expect(first.headers['x-nanogate-project']).toBe(`${run}-a`);
    const turn1 = modelTurn(first.json);
    expect(turn1.parts!.filter((p) => p.thoughtSignature)).toHaveLength(2);

    // A minute on, b has room again and comes first; the second turn, on the other instance,
    // still goes to a, which made its signatures (b would refuse them).
    clock.advance(60_000);
    const second = await generate(gw2!, { contents: [ask('A red car').contents[0], turn1, ask('Make it blue').contents[0]] });
    expect(second.status).toBe(200);
    expect(second.headers['x-nanogate-project']).toBe(`${run}-a`);
    expect(keysCalled()).toEqual([KEY_B, KEY_A, KEY_A]);
    expect(logLines(gw2!).at(-1)).toMatchObject({ pinnedTo: `${run}-a`, pinnedBy: 'signature' });

    // a is full now: the third turn waits for a, never goes to b.
    clock.advance(10_000);
    const turn2 = modelTurn(second.json);
    const third = await generate(gw1!, { contents: [ask('A red car').contents[0], turn1, ask('Make it blue').contents[0], turn2, ask('Now green').contents[0]] });
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('50');
    expect(JSON.stringify(third.json)).toContain(`"retryDelay":"50s"`);
    expect(keysCalled()).toEqual([KEY_B, KEY_A, KEY_A]);
    // A call without signatures still goes where there is room.
    expect((await generate(gw1!, ask('something else'))).headers['x-nanogate-project']).toBe(`${run}-b`);
  });

  it('does the same for chat completions with reasoning_details', async () => {
    const [gw1, gw2] = await fleet(2, { a: 1, b: 1 });
    const chat = (gw: RunningGateway) => new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions;
    await generate(gw1!, ask('warm up'));
    const { data: first, response } = await chat(gw1!).create({ model: 'nano-banana-pro', messages: [{ role: 'user', content: 'A red car' }] }).withResponse();
    expect(response.headers.get('x-nanogate-project')).toBe(`${run}-a`);
    const message = first.choices[0]!.message as OpenAI.Chat.ChatCompletionMessage & { images?: unknown; reasoning_details?: unknown[] };
    expect(message.reasoning_details).toHaveLength(2);
    const history = [
      { role: 'user', content: 'A red car' },
      { role: 'assistant', content: message.content, images: message.images, reasoning_details: message.reasoning_details },
      { role: 'user', content: 'Make it blue' },
    ] as never;

    clock.advance(60_000);
    const { response: secondResponse } = await chat(gw2!).create({ model: 'nano-banana-pro', messages: history }).withResponse();
    expect(secondResponse.headers.get('x-nanogate-project')).toBe(`${run}-a`);
    expect(keysCalled()).toEqual([KEY_B, KEY_A, KEY_A]);

    clock.advance(10_000);
    const refused = await chat(gw1!).create({ model: 'nano-banana-pro', messages: history }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after')).toBe('50');
    expect(keysCalled()).toEqual([KEY_B, KEY_A, KEY_A]);
  });
});

describe('files across a pool', () => {
  const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const png = () => new Blob([Buffer.from(mock.imageBase64(), 'base64')], { type: 'image/png' });

  it('uses a file on the project it was uploaded to, whatever the pool prefers, and refuses it where it cannot be read', async () => {
    const [gw] = await fleet(1, { a: 1, b: 10 });
    const app = gw!.gateway.app;
    const admin = (method: 'POST' | 'PATCH', url: string, payload: Record<string, unknown>) => app.inject({ method, url, headers: bearer, payload });
    // A tenant on project a uploads a file (to a), then joins the pool, where b comes first.
    expect((await admin('POST', '/admin/tenants', { id: 'studio', project: `${run}-a` })).statusCode).toBe(201);
    const key = (await admin('POST', '/admin/tenants/studio/keys', {})).json().key as string;
    const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: gw!.url } });
    const file = await ai.files.upload({ file: png(), config: { mimeType: 'image/png' } });
    expect(mock.batches.files()[0]!.owner).toBe(KEY_A);
    expect((await admin('PATCH', '/admin/tenants/studio', { pool: `${run}-pool` })).json()).toMatchObject({ project: `${run}-b`, pool: `${run}-pool` });

    const contents = [{ role: 'user', parts: [{ text: 'Put this cat in a spacesuit' }, createPartFromUri(file.uri!, 'image/png')] }];
    const counted = await ai.models.countTokens({ model: 'nano-banana-pro', contents });
    expect(counted.totalTokens).toBeGreaterThan(0);
    const answer = await ai.models.generateContent({ model: 'nano-banana-pro', contents });
    expect(answer.candidates?.[0]?.finishReason).toBe('STOP');
    // Google got its own URI for the file, in a's project.
    expect(keysCalled()).toEqual([KEY_A, KEY_A]);
    const sent = JSON.parse(mock.received.at(-1)!.body.toString()) as { contents: Array<{ parts: Part[] }> };
    expect(sent.contents[0]!.parts[1]!.fileData).toEqual({ fileUri: `${mock.url}/v1beta/files/${mock.batches.files()[0]!.id}`, mimeType: 'image/png' });

    // a is full: the next call with the file waits for a (b has room, and cannot read it).
    const full = await generate(gw!, { contents }, key);
    expect(full.status).toBe(429);
    expect(full.headers['retry-after']).toBe('60');
    // Moved off the pool onto b alone: the file cannot go with it, and the gateway says so.
    await admin('PATCH', '/admin/tenants/studio', { project: `${run}-b` });
    const away = await generate(gw!, { contents }, key);
    expect(away.status).toBe(400);
    expect(away.json).toMatchObject({ error: { status: 'INVALID_ARGUMENT', message: expect.stringContaining(`${file.name} was uploaded to project ${run}-a, which your calls no longer go to (they go to project ${run}-b)`) } });
    expect(keysCalled()).toEqual([KEY_A, KEY_A]);
  });

  it('refuses a file reference it does not know, naming it, and calls nobody', async () => {
    const [gw] = await fleet(1, { a: 10, b: 10 });
    for (const uri of ['files/0123456789abcdef0123', `${gw!.url}/v1beta/files/0123456789abcdef0123`, 'https://generativelanguage.googleapis.com/v1beta/files/abc123']) {
      const refused = await generate(gw!, { contents: [{ role: 'user', parts: [{ text: 'a cat' }, { fileData: { mimeType: 'image/png', fileUri: uri } }] }] });
      expect(refused.status, uri).toBe(400);
      expect(refused.json).toMatchObject({ error: { status: 'INVALID_ARGUMENT', message: expect.stringContaining(`fileData.fileUri ${JSON.stringify(uri)} names no file of yours on this gateway`) } });
    }
    expect(keysCalled()).toEqual([]);
    // A URI that is no Files API object goes to Google as it is.
    expect((await generate(gw!, { contents: [{ role: 'user', parts: [{ text: 'a cat' }, { fileData: { mimeType: 'image/png', fileUri: 'gs://bucket/cat.png' } }] }] })).status).toBe(200);
  });
});
