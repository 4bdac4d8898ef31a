/**
 * The mock keeps what belongs to a project in that project (#17.5), as Google does: a file is
 * readable by generateContent with the key whose project uploaded it, and a thought signature
 * goes back only to the project (key) that made it. Another project's is refused: 403
 * PERMISSION_DENIED for a file (the wording gemini/errors.ts tells apart from a refused key),
 * 400 INVALID_ARGUMENT for a signature (undocumented in google-api.md; the 400 Google is
 * reported to give a signature it cannot verify).
 */
import { GoogleGenAI, createPartFromUri } from '@google/genai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { call, json, prompt } from './client.js';
import { startMockGoogle, type MockGoogle } from './server.js';

const A = 'key-of-project-a';
const B = 'key-of-project-b';
const PRO = '/v1beta/models/gemini-3-pro-image:generateContent';

let mock: MockGoogle;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [A, B] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => mock.reset());

type Part = { text?: string; thoughtSignature?: string; inlineData?: { mimeType: string; data: string } };
const partsOf = (answer: unknown) => (answer as { candidates: Array<{ content: { parts: Part[] } }> }).candidates[0]!.content.parts;

/** Turn one on `key`, then the model's turn (with its signatures) handed back on `next`. */
async function secondTurn(key: string, next: string) {
  const first = await call(mock.url, PRO, { key, body: prompt('A red car') });
  expect(first.status).toBe(200);
  const model = partsOf(json(first)).filter((p) => p.thoughtSignature);
  expect(model).toHaveLength(2);
  return call(mock.url, PRO, {
    key: next,
    body: { contents: [{ role: 'user', parts: [{ text: 'A red car' }] }, { role: 'model', parts: model }, { role: 'user', parts: [{ text: 'Make it blue' }] }] },
  });
}

describe('thought signatures belong to the project that made them', () => {
  it('takes a signature back on the project that made it', async () => {
    expect((await secondTurn(A, A)).status).toBe(200);
  });

  it("refuses another project's signature with 400 INVALID_ARGUMENT", async () => {
    const answer = await secondTurn(A, B);
    expect(answer.status).toBe(400);
    expect(json(answer)).toEqual({ error: { code: 400, message: 'Corrupted thought signature.', status: 'INVALID_ARGUMENT' } });
  });

  it('lets a string that is no signature of its own pass, as a turn without a valid signature does', async () => {
    const other = await call(mock.url, PRO, {
      key: B,
      body: { contents: [{ role: 'model', parts: [{ text: 'hi', thoughtSignature: 'c2lnbmF0dXJl' }] }, { role: 'user', parts: [{ text: 'again' }] }] },
    });
    expect(other.status).toBe(200);
    expect(mock.answered.map((a) => a.thoughtSignatures.length)).toEqual([2]);
  });
});

describe('Files API objects belong to the project that uploaded them', () => {
  const ai = (key: string) => new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: mock.url } });
  const withFile = (uri: string) => ({ contents: [{ role: 'user', parts: [{ text: 'Put this cat in a spacesuit' }, { fileData: { mimeType: 'image/png', fileUri: uri } }] }] });

  it('reads a file in the project that uploaded it, by its uri or its name', async () => {
    const file = await ai(A).files.upload({ file: new Blob([Buffer.from(mock.imageBase64(), 'base64')], { type: 'image/png' }), config: { mimeType: 'image/png' } });
    const byUri = await ai(A).models.generateContent({ model: 'gemini-3-pro-image', contents: [{ role: 'user', parts: [{ text: 'a cat' }, createPartFromUri(file.uri!, 'image/png')] }] });
    expect(byUri.candidates?.[0]?.finishReason).toBe('STOP');
    expect((await call(mock.url, PRO, { key: A, body: withFile(file.name!) })).status).toBe(200);
  });

  it("refuses another project's file, or none, with 403 PERMISSION_DENIED naming it", async () => {
    const file = await ai(A).files.upload({ file: new Blob([Buffer.from(mock.imageBase64(), 'base64')], { type: 'image/png' }), config: { mimeType: 'image/png' } });
    for (const [key, uri, name] of [
      [B, file.uri!, file.name!],
      [A, `${mock.url}/v1beta/files/nosuchfile`, 'files/nosuchfile'],
    ] as const) {
      const answer = await call(mock.url, PRO, { key, body: withFile(uri) });
      expect(answer.status).toBe(403);
      expect(json(answer)).toEqual({ error: { code: 403, message: `You do not have permission to access the File ${name} or it may not exist.`, status: 'PERMISSION_DENIED' } });
    }
  });

  it('takes URIs that name no Files API object as they are', async () => {
    expect((await call(mock.url, PRO, { key: B, body: withFile('gs://bucket/cat.png') })).status).toBe(200);
  });
});
