/**
 * The mock's Vertex AI paths and OAuth token endpoint (#17.3), called as google-auth-library and
 * the gateway call them: a token from a signed assertion, then Vertex's generateContent with it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { googleTokenSource } from '../../src/vertex/google-token-source.js';
import { call, json, prompt } from './client.js';
import { startMockGoogle, type MockGoogle } from './server.js';
import { makeServiceAccount, type ServiceAccount } from './vertex.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PATH = '/v1/projects/my-gcp-project/locations/us-central1/publishers/google/models';

let mock: MockGoogle;
let account: ServiceAccount;
let keyFile: string;
let dir: string;

beforeAll(async () => {
  mock = await startMockGoogle({ imageBytes: { '2K': 6000 } });
  account = makeServiceAccount(`${mock.url}/token`);
  mock.vertex.addServiceAccount(account.email, account.publicKeyPem);
  dir = mkdtempSync(join(tmpdir(), 'mock-vertex-'));
  keyFile = join(dir, 'sa.json');
  writeFileSync(keyFile, JSON.stringify(account.keyFile));
});
afterAll(async () => {
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => mock.reset());

const token = async () => (await googleTokenSource({ keyFile })()).accessToken;
const vertexCall = (path: string, body: unknown, bearer: string | null, extra: Record<string, string> = {}) =>
  call(mock.url, `${PATH}/${path}`, { body, key: null, headers: { ...(bearer !== null ? { authorization: `Bearer ${bearer}` } : {}), ...extra } });

describe('the OAuth token endpoint', () => {
  it('issues a token for a known service account and counts the request', async () => {
    const t = await token();
    expect(t).toMatch(/^ya29\.mock-/);
    expect(mock.vertex.tokenRequests()).toBe(1);
    expect(mock.vertex.issuedTokens()).toEqual([t]);
  });

  it.each([
    ['no assertion', 'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer', 'invalid_request'],
    ['another grant', 'grant_type=refresh_token&refresh_token=x', 'unsupported_grant_type'],
    ['a malformed assertion', 'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=abc', 'invalid_grant'],
  ])('refuses %s as Google does (400, OAuth error)', async (_what, form, error) => {
    const res = await call(mock.url, '/token', { key: null, method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(400);
    expect(json(res)).toMatchObject({ error });
  });

  it('answers with the fault set, and a token again once it is cleared', async () => {
    mock.vertex.setTokenFault({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } });
    await expect(token()).rejects.toMatchObject({ refused: true, message: 'the token endpoint answered invalid_grant: Invalid JWT Signature.' });
    mock.vertex.setTokenFault(undefined);
    await expect(token()).resolves.toMatch(/^ya29\./);
    expect(mock.vertex.tokenRequests()).toBe(2);
  });
});

describe("Vertex AI's generateContent paths", () => {
  it('answer as the Gemini API paths do for a valid token', async () => {
    const t = await token();
    const res = await vertexCall('gemini-3-pro-image:generateContent', prompt('a cat', { generationConfig: { imageConfig: { imageSize: '2K' } } }), t);
    expect(res.status).toBe(200);
    const answer = json(res) as { candidates: Array<{ content: { parts: Array<{ inlineData?: { data: string }; thought?: boolean }> } }>; usageMetadata: { candidatesTokenCount: number } };
    expect(answer.candidates[0]!.content.parts.find((p) => p.inlineData && !p.thought)?.inlineData?.data).toBe(mock.imageBase64('2K'));
    expect(answer.usageMetadata.candidatesTokenCount).toBeGreaterThan(0);
  });

  it('stream as server-sent events with alt=sse, and count tokens', async () => {
    const t = await token();
    const sse = await call(mock.url, `${PATH}/gemini-nano-banana-2.1:streamGenerateContent?alt=sse`, { body: prompt('a dog'), key: null, headers: { authorization: `Bearer ${t}` } });
    expect(sse.headers['content-type']).toBe('text/event-stream');
    expect(sse.text).toMatch(/^data: \{/);
    const counted = await vertexCall('gemini-3-pro-image:countTokens', prompt('a dog'), t);
    expect(json(counted)).toMatchObject({ totalTokens: expect.any(Number) });
  });

  it.each([
    ['no credential', null, {}, 'Request is missing required authentication credential'],
    ['an API key', null, { 'x-goog-api-key': 'test-google-key' }, 'API keys are not supported by this API'],
    ['a token it never issued', 'ya29.forged', {}, 'Request had invalid authentication credentials'],
  ])('refuse %s with 401 UNAUTHENTICATED', async (_what, bearer, extra, message) => {
    const res = await vertexCall('gemini-3-pro-image:generateContent', prompt('a cat'), bearer, extra);
    expect(res.status).toBe(401);
    expect(json(res)).toMatchObject({ error: { code: 401, status: 'UNAUTHENTICATED', message: expect.stringContaining(message) } });
  });

  it('refuse tokens once they have expired at Google', async () => {
    const t = await token();
    mock.vertex.expireTokens();
    expect((await vertexCall('gemini-3-pro-image:generateContent', prompt('a cat'), t)).status).toBe(401);
  });

  it("name the publisher model they do not know in Vertex's words", async () => {
    const res = await vertexCall('gemini-9-image:generateContent', prompt('a cat'), await token());
    expect(res.status).toBe(404);
    expect(json(res)).toMatchObject({ error: { status: 'NOT_FOUND', message: 'Publisher Model `projects/my-gcp-project/locations/us-central1/publishers/google/models/gemini-9-image` not found.' } });
  });

  it('answer with the fault of the Google Cloud project, or of the token, as the Gemini paths do with a key', async () => {
    const t = await token();
    mock.setVertexProjectFault('my-gcp-project', { kind: 'rateLimit', retryDelay: '7s' });
    expect((await vertexCall('gemini-3-pro-image:generateContent', prompt('a cat'), t)).status).toBe(429);
    mock.setVertexProjectFault('my-gcp-project', undefined);
    mock.setKeyFault(t, { kind: 'unavailable' });
    expect((await vertexCall('gemini-3-pro-image:generateContent', prompt('a cat'), t)).status).toBe(503);
  });
});
