import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchResultReader, type ResultItem } from '../../src/batch/result-reader.js';

const usage = (prompt: number, image: number, thoughts = 0) => ({
  promptTokenCount: prompt,
  candidatesTokenCount: image + 7,
  totalTokenCount: prompt + image + 7 + thoughts,
  ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
  promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
  candidatesTokensDetails: [
    { modality: 'TEXT', tokenCount: 7 },
    { modality: 'IMAGE', tokenCount: image },
  ],
});

function response(n: number, image = 'iVBORw0KGgo' + 'A'.repeat(n * 37)) {
  return {
    candidates: [
      {
        content: {
          role: 'model',
          parts: [
            { text: 'Thinking about "it" & <this>', thought: true },
            { inlineData: { mimeType: 'image/png', data: 'dGhvdWdodA==' }, thought: true },
            { text: `Here is picture ${n}.`, thoughtSignature: 'c2ln' },
            { inlineData: { mimeType: 'image/png', data: image }, thoughtSignature: 'c2ln' },
          ],
        },
        finishReason: 'STOP',
        index: 0,
      },
    ],
    usageMetadata: usage(10 + n, 1120, 50),
    modelVersion: 'gemini-3-pro-image',
    responseId: `resp-${n}`,
  };
}

/** Result lines as Google writes them: a response, a status object for a failed request, a request echoed (Vertex) beside the response. */
function resultLines(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    if (i % 5 === 3) return JSON.stringify({ key: `k${i}`, error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } });
    if (i % 5 === 4) return JSON.stringify({ key: `k${i}`, request: { contents: [{ parts: [{ inlineData: { mimeType: 'image/png', data: 'QUJD' } }] }] }, response: response(i) });
    return JSON.stringify({ key: `k${i}`, response: response(i) });
  });
}

/** What each line should give, from JSON.parse. */
function expected(lines: string[]): Array<Partial<ResultItem>> {
  return lines.map((line, index) => {
    const o = JSON.parse(line) as { key: string; error?: ResultItem['error']; response?: ReturnType<typeof response> };
    if (o.error) return { index, key: o.key, error: o.error };
    const r = o.response!;
    return {
      index,
      key: o.key,
      response: {
        usageMetadata: r.usageMetadata,
        finishReasons: ['STOP'],
        imageCount: 1,
        images: [],
        text: '',
        modelVersion: r.modelVersion,
        responseId: r.responseId,
      },
    } as Partial<ResultItem>;
  });
}

function read(chunks: Buffer[], framing: 'jsonl' | 'operation', captureImages = false) {
  const items: ResultItem[] = [];
  const reader = new BatchResultReader({ framing, captureImages, onItem: (i) => items.push(i) });
  for (const c of chunks) reader.write(c);
  return { items, end: reader.end(), reader };
}

function splitAt(body: Buffer, cuts: number[]): Buffer[] {
  const sorted = [...new Set(cuts)].filter((c) => c > 0 && c < body.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...sorted, body.length]) {
    out.push(body.subarray(from, cut));
    from = cut;
  }
  return out;
}

describe('batch result reader', () => {
  it('reads every line of a result file the way JSON.parse does, whatever the chunking', () => {
    const lines = resultLines(11);
    const body = Buffer.from(`${lines.join('\n')}\n`);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: body.length }), { maxLength: 12 }), (cuts) => {
        const { items, end } = read(splitAt(body, cuts), 'jsonl');
        expect(items).toEqual(expected(lines));
        expect(end).toMatchObject({ responses: 11, malformed: false });
      }),
      { numRuns: 200 },
    );
  });

  it('keeps the final images (not the thought ones) as slices when asked, and their text', () => {
    const image = 'iVBOR' + 'x'.repeat(100_000);
    const body = Buffer.from(`${JSON.stringify({ key: 'only', response: response(1, image) })}`);
    const { items } = read(splitAt(body, [10, 5_000, 50_000, 99_000]), 'jsonl', true);
    const got = items[0]!.response!;
    expect(got.imageCount).toBe(1);
    expect(got.images.map((i) => Buffer.concat(i.base64).toString())).toEqual([image]);
    expect(got.text).toBe('Here is picture 1.');
  });

  it('counts a line it cannot read in its place, and goes on with the next', () => {
    const lines = resultLines(3);
    const body = Buffer.from([lines[0], '{"key": "broken", "response": {', lines[1]].join('\n'));
    const { items, end } = read([body], 'jsonl');
    expect(items.map((i) => [i.index, i.key ?? null, i.malformed ?? false])).toEqual([
      [0, 'k0', false],
      [1, null, true],
      [2, 'k1', false],
    ]);
    expect(end).toMatchObject({ responses: 3, malformed: true });
  });

  it('holds at most one response at a time, however long the file', () => {
    const line = JSON.stringify({ key: 'k', response: response(1, 'A'.repeat(200_000)) });
    const reader = new BatchResultReader({ framing: 'jsonl' });
    let most = 0;
    const body = Buffer.from(`${line}\n`.repeat(50));
    for (let at = 0; at < body.length; at += 16_384) {
      reader.write(body.subarray(at, at + 16_384));
      most = Math.max(most, reader.retainedBytes());
    }
    expect(reader.end().responses).toBe(50);
    // Metering skips image data: what is held is a few small values, not images.
    expect(most).toBeLessThan(4_096);
  });

  it('reads an inline batch operation once even when Google repeats its output under response, and its own fields', () => {
    const inlined = [
      { response: response(1), metadata: { key: 'a' } },
      { error: { code: 13, message: 'internal' }, metadata: { key: 'b' } },
    ];
    const op = {
      name: 'batches/g1',
      metadata: {
        '@type': 'type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch',
        model: 'models/gemini-3-pro-image',
        displayName: 'nanogate:abc',
        output: { inlinedResponses: { inlinedResponses: inlined } },
        createTime: '2026-11-28T10:00:00Z',
        endTime: '2026-11-28T11:00:00Z',
        updateTime: '2026-11-28T11:00:00Z',
        batchStats: { requestCount: '2', successfulRequestCount: '1', failedRequestCount: '1' },
        state: 'BATCH_STATE_SUCCEEDED',
      },
      done: true,
      response: { '@type': 'type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatchOutput', inlinedResponses: { inlinedResponses: inlined } },
    };
    const body = Buffer.from(JSON.stringify(op, null, 2));
    for (const cuts of [[], [100, 2_000], Array.from({ length: 40 }, (_, i) => i * 97)]) {
      const { items, end } = read(splitAt(body, cuts), 'operation');
      expect(items.map((i) => [i.index, i.key, i.response?.usageMetadata?.promptTokenCount ?? null, i.error?.code ?? null])).toEqual([
        [0, 'a', 11, null],
        [1, 'b', null, 13],
      ]);
      expect(end.operation).toEqual({
        name: 'batches/g1',
        done: true,
        state: 'BATCH_STATE_SUCCEEDED',
        displayName: 'nanogate:abc',
        model: 'models/gemini-3-pro-image',
        createTime: '2026-11-28T10:00:00Z',
        updateTime: '2026-11-28T11:00:00Z',
        endTime: '2026-11-28T11:00:00Z',
        batchStats: { requestCount: '2', successfulRequestCount: '1', failedRequestCount: '1' },
        inlinedResponses: 4,
      });
    }
  });

  it('reads the result file name and the error of a finished operation', () => {
    const op = { name: 'batches/g2', metadata: { state: 'BATCH_STATE_FAILED', output: { responsesFile: 'files/batch-g2' } }, done: true, error: { code: 13, message: 'Batch failed.' } };
    const { items, end } = read([Buffer.from(JSON.stringify(op))], 'operation');
    expect(items).toEqual([]);
    expect(end.operation).toMatchObject({ state: 'BATCH_STATE_FAILED', responsesFile: 'files/batch-g2', error: { code: 13, message: 'Batch failed.' } });
  });
});
