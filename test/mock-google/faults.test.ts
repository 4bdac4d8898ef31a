import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Part, UsageMetadata } from '../../src/gemini/types.js';
import { call, json, prompt, type RawAnswer } from './client.js';
import { startMockGoogle, type MockGoogle } from './server.js';

interface Answer {
  candidates?: Array<{ content?: { parts?: Part[] }; finishReason?: string; index?: number; finishMessage?: string }>;
  usageMetadata?: UsageMetadata;
  modelVersion?: string;
  responseId?: string;
  promptFeedback?: { blockReason?: string };
}
interface ErrorBody {
  error: { code: number; message: string; status: string; details?: Array<Record<string, unknown>> };
}

const PRO = 'gemini-3-pro-image';
const LITE = 'gemini-3.1-flash-lite-image';

let mock: MockGoogle;
beforeAll(async () => {
  mock = await startMockGoogle();
});
afterAll(() => mock.close());
beforeEach(() => mock.reset());

const generate = (model = PRO, signal?: AbortSignal) => call(mock.url, `/v1beta/models/${model}:generateContent`, { body: prompt('abcdefgh'), signal });
const sse = (model = PRO) => call(mock.url, `/v1beta/models/${model}:streamGenerateContent?alt=sse`, { body: prompt('abcdefgh') });
const events = (raw: RawAnswer) =>
  raw.text
    .split('\r\n\r\n')
    .slice(0, -1)
    .map((e) => JSON.parse(e.slice('data: '.length)) as Answer);
const hasImage = (a: Answer) => (a.candidates?.[0]?.content?.parts ?? []).some((p) => p.inlineData !== undefined);

describe('fault queue', () => {
  it('gives each generation request the next queued fault, then normal answers', async () => {
    mock.enqueue({ kind: 'unavailable' }, { kind: 'internal' });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await generate()).status);
    expect(statuses).toEqual([503, 500, 200]);
  });

  it('spends queued faults on streaming requests too, but not on countTokens or model listing', async () => {
    mock.enqueue({ kind: 'deadline' }, { kind: 'deadline' });
    expect((await call(mock.url, `/v1beta/models/${PRO}:countTokens`, { body: prompt('x') })).status).toBe(200);
    expect((await call(mock.url, '/v1beta/models')).status).toBe(200);
    expect((await sse()).status).toBe(504);
    expect((await generate()).status).toBe(504);
    expect((await generate()).status).toBe(200);
  });

  it('answers every request for a model with its fault until cleared, without spending the queue', async () => {
    mock.setModelFault(PRO, { kind: 'unavailable' });
    mock.enqueue({ kind: 'internal' });
    expect((await generate(PRO)).status).toBe(503);
    expect((await generate(PRO)).status).toBe(503);
    expect((await generate(LITE)).status).toBe(500);
    expect((await generate(LITE)).status).toBe(200);
    mock.setModelFault(PRO, undefined);
    expect((await generate(PRO)).status).toBe(200);
  });

  it('forgets faults and requests on reset', async () => {
    mock.enqueue({ kind: 'internal' });
    mock.setModelFault(LITE, { kind: 'internal' });
    await call(mock.url, '/v1beta/models');
    mock.reset();
    expect(mock.received).toEqual([]);
    expect((await generate(PRO)).status).toBe(200);
    expect((await generate(LITE)).status).toBe(200);
  });
});

describe('error faults', () => {
  it('answers a status fault with the given body and headers', async () => {
    const body = { error: { code: 400, message: 'User location is not supported for the API use.', status: 'FAILED_PRECONDITION' } };
    mock.enqueue({ kind: 'status', status: 400, body, headers: { 'retry-after': '3' } });
    const raw = await generate();
    expect(raw.status).toBe(400);
    expect(raw.headers['retry-after']).toBe('3');
    expect(raw.text).toBe(`${JSON.stringify(body, null, 2)}\n`);
  });

  it('gives a status fault without a body Google\'s envelope for that status, and sends string bodies raw', async () => {
    mock.enqueue({ kind: 'status', status: 401 }, { kind: 'status', status: 502, body: '<html>Bad Gateway</html>' });
    expect(json(await generate())).toEqual({ error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
    const raw = await generate();
    expect(raw.status).toBe(502);
    expect(raw.text).toBe('<html>Bad Gateway</html>');
    expect(raw.headers['content-type']).toBe('text/html; charset=UTF-8');
  });

  it.each([
    [{ kind: 'unavailable' } as const, 503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'],
    [
      { kind: 'internal' } as const,
      500,
      'INTERNAL',
      'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
    ],
    [{ kind: 'deadline' } as const, 504, 'DEADLINE_EXCEEDED', 'Deadline expired before operation could complete.'],
  ])('answers %j with %i %s', async (fault, code, status, message) => {
    mock.enqueue(fault);
    const raw = await generate();
    expect(raw.status).toBe(code);
    expect(raw.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(raw.text).toBe(`${JSON.stringify({ error: { code, message, status } }, null, 2)}\n`);
  });

  it('answers a rate limit with QuotaFailure, Help and RetryInfo, in that order', async () => {
    mock.enqueue({ kind: 'rateLimit', retryDelay: '37s', quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' });
    const raw = await generate(LITE);
    expect(raw.status).toBe(429);
    const { error } = json(raw) as ErrorBody;
    expect(error.status).toBe('RESOURCE_EXHAUSTED');
    expect(error.message).toContain('* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: gemini-3.1-flash-lite-image');
    expect(error.message).toMatch(/Please retry in 37s\.$/);
    expect(error.details).toEqual([
      {
        '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
        violations: [
          {
            quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
            quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
            quotaDimensions: { location: 'global', model: LITE },
            quotaValue: '10',
          },
        ],
      },
      { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }] },
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37s' },
    ]);
  });

  it('leaves RetryInfo out of a rate limit without retryDelay, and names the quota asked for', async () => {
    mock.enqueue({ kind: 'rateLimit', quotaId: 'GenerateRequestsPerDayPerProjectPerModel-PaidTier2' });
    const { error } = json(await generate()) as ErrorBody;
    expect(error.details?.map((d) => d['@type'])).toEqual(['type.googleapis.com/google.rpc.QuotaFailure', 'type.googleapis.com/google.rpc.Help']);
    expect(error.message).not.toContain('Please retry');
    expect(error.details?.[0]).toMatchObject({
      violations: [{ quotaId: 'GenerateRequestsPerDayPerProjectPerModel-PaidTier2', quotaMetric: 'generativelanguage.googleapis.com/generate_content_paid_tier_2_requests' }],
    });
  });

  it('answers errors on a stream as a plain JSON envelope before any event', async () => {
    mock.enqueue({ kind: 'rateLimit', retryDelay: '1s' });
    const raw = await sse();
    expect(raw.status).toBe(429);
    expect(raw.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect((json(raw) as ErrorBody).error.code).toBe(429);
  });
});

describe('answer faults', () => {
  it('finishes without content for a blocked image, charging only the prompt and thinking', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_SAFETY' });
    const answer = json(await generate()) as Answer;
    const candidate = answer.candidates?.[0];
    expect(candidate?.finishReason).toBe('IMAGE_SAFETY');
    expect(candidate?.content).toBeUndefined();
    expect(candidate?.finishMessage).toMatch(/filtered out/);
    const u = answer.usageMetadata!;
    expect(u.promptTokenCount).toBe(2);
    expect(u.candidatesTokenCount).toBeUndefined();
    expect(u.candidatesTokensDetails).toBeUndefined();
    expect(u.totalTokenCount).toBe(2 + (u.thoughtsTokenCount ?? 0));
    expect(u.thoughtsTokenCount).toBeGreaterThan(0);
  });

  it('streams a finish fault as thoughts, then a last chunk with the reason and no image', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'NO_IMAGE' });
    const chunks = events(await sse());
    expect(chunks.at(-1)?.candidates?.[0]).toEqual({ finishReason: 'NO_IMAGE', index: 0 });
    expect(chunks.some(hasImage)).toBe(false);
  });

  it('blocks a prompt with 200, no candidates and promptFeedback', async () => {
    mock.enqueue({ kind: 'promptBlocked' }, { kind: 'promptBlocked', blockReason: 'SAFETY' });
    const first = json(await generate(LITE)) as Answer;
    expect(first.candidates).toBeUndefined();
    expect(first.promptFeedback).toEqual({ blockReason: 'PROHIBITED_CONTENT' });
    expect(first.usageMetadata).toEqual({ promptTokenCount: 2, totalTokenCount: 2, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 2 }] });
    const streamed = events(await sse(LITE));
    expect(streamed).toHaveLength(1);
    expect(streamed[0]?.promptFeedback?.blockReason).toBe('SAFETY');
  });

  it('answers text and no image with STOP for a textOnly fault', async () => {
    mock.enqueue({ kind: 'textOnly', text: 'No picture today.' }, { kind: 'textOnly' });
    const answer = json(await generate()) as Answer;
    expect(answer.candidates?.[0]?.finishReason).toBe('STOP');
    expect(hasImage(answer)).toBe(false);
    expect(answer.candidates?.[0]?.content?.parts?.filter((p) => !p.thought).map((p) => p.text)).toEqual(['No picture today.']);
    expect(answer.usageMetadata?.candidatesTokensDetails).toEqual([{ modality: 'TEXT', tokenCount: 5 }]);
    const streamed = events(await sse());
    expect(streamed.at(-1)?.candidates?.[0]?.finishReason).toBe('STOP');
    expect(streamed.some(hasImage)).toBe(false);
  });

  it('still validates the request under an answer fault', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_OTHER' });
    const raw = await call(mock.url, `/v1beta/models/${PRO}:generateContent`, { body: prompt('x', { generationConfig: { imageConfig: { imageSize: '8K' } } }) });
    expect(raw.status).toBe(400);
  });
});

describe('transport faults', () => {
  it('answers normally after a delay', async () => {
    mock.enqueue({ kind: 'delay', ms: 20 });
    const raw = await generate();
    expect(raw.status).toBe(200);
    expect(hasImage(json(raw) as Answer)).toBe(true);
  });

  it('gives up a delayed answer when the client goes away', async () => {
    mock.enqueue({ kind: 'delay', ms: 150 });
    const abort = new AbortController();
    const pending = generate(PRO, abort.signal);
    await vi.waitFor(() => expect(mock.openRequests()).toBe(1));
    abort.abort();
    await expect(pending).rejects.toThrow();
    await vi.waitFor(() => expect(mock.openRequests()).toBe(0));
  });

  it('holds a hanging request open until the client aborts', async () => {
    mock.enqueue({ kind: 'hang' });
    const abort = new AbortController();
    const pending = generate(PRO, abort.signal);
    await vi.waitFor(() => expect(mock.received).toHaveLength(1));
    expect(mock.openRequests()).toBe(1);
    abort.abort();
    await expect(pending).rejects.toThrow();
    await vi.waitFor(() => expect(mock.openRequests()).toBe(0));
  });

  it('destroys hanging connections on close', async () => {
    const own = await startMockGoogle();
    own.enqueue({ kind: 'hang' });
    const outcome = call(own.url, `/v1beta/models/${PRO}:generateContent`, { body: prompt('x') }).then(
      () => 'answered',
      (err: unknown) => err,
    );
    await vi.waitFor(() => expect(own.openRequests()).toBe(1));
    await own.close();
    expect(await outcome).toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect(own.openRequests()).toBe(0);
  });

  it('drops the connection without answering', async () => {
    mock.enqueue({ kind: 'drop' });
    await expect(generate()).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect(mock.received).toHaveLength(1);
    expect((await generate()).status).toBe(200);
  });

  it('trickles a normal answer in small pieces', async () => {
    mock.enqueue({ kind: 'slowBody', chunkBytes: 128, intervalMs: 2 });
    const slow = await generate();
    const normal = await generate();
    expect(slow.status).toBe(200);
    expect(slow.text.length).toBeGreaterThan(128 * 8);
    // Pieces read back to back may merge on the client, so only a clear majority is required.
    expect(slow.reads).toBeGreaterThanOrEqual(4);
    const strip = (a: Answer) => ({ ...a, responseId: undefined, candidates: undefined });
    expect(strip(json(slow) as Answer)).toEqual(strip(json(normal) as Answer));
    expect(hasImage(json(slow) as Answer)).toBe(true);
  });
});
