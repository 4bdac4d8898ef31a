import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ResponseScanner, type Framing, type ScanOptions, type ScanSummary } from '../../src/gemini/response-scanner.js';
import {
  FINAL_IMAGE,
  FINAL_TEXT,
  FINAL_USAGE,
  GEMINI3_ANSWER,
  GEMINI3_STREAM,
  MODEL_VERSION,
  RESPONSE_ID,
  SIGNATURE,
  THOUGHT_IMAGE,
  THOUGHT_TEXT,
  compactLikeGoogle,
  fakeBase64,
  jsonArrayLikeGoogle,
  prettyLikeGoogle,
  sseLikeGoogle,
} from './gemini-answers.js';

/**
 * Every test below runs twice: with small documents read by JSON.parse (the default) and with
 * everything tokenized, the path big answers take. Both must give the same summaries.
 */
const READING_PATHS = [
  { path: 'small documents parsed whole', smallDocumentBytes: undefined },
  { path: 'every document tokenized', smallDocumentBytes: 0 },
];
let smallDocumentBytes: number | undefined;

function newScanner(options: ScanOptions): ResponseScanner {
  return new ResponseScanner({ ...options, ...(smallDocumentBytes !== undefined ? { smallDocumentBytes } : {}) });
}

function scan(chunks: Buffer[], framing: Framing, captureImages = true): ScanSummary {
  const scanner = newScanner({ framing, captureImages });
  for (const chunk of chunks) scanner.write(chunk);
  return scanner.end();
}

const scanText = (body: string, framing: Framing, captureImages = true) => scan([Buffer.from(body)], framing, captureImages);

/** The body cut at the given offsets. */
function splitAt(body: Buffer, cuts: number[]): Buffer[] {
  const sorted = [...new Set(cuts)].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of [...sorted, body.length]) {
    chunks.push(body.subarray(from, cut));
    from = cut;
  }
  return chunks;
}

/** A summary with images as strings, to compare scans whose chunking differs. */
function comparable(summary: ScanSummary) {
  return {
    ...summary,
    images: summary.images.map((image) => ({ ...image, base64: Buffer.concat(image.base64).toString('latin1') })),
  };
}

const ANSWERS: Array<{ framing: Framing; body: Buffer; messages: number }> = [
  { framing: 'json', body: Buffer.from(prettyLikeGoogle(GEMINI3_ANSWER)), messages: 1 },
  { framing: 'json-array', body: Buffer.from(jsonArrayLikeGoogle(GEMINI3_STREAM)), messages: 4 },
  { framing: 'sse', body: Buffer.from(sseLikeGoogle(GEMINI3_STREAM)), messages: 4 },
];

describe.each(READING_PATHS)('$path', ({ smallDocumentBytes: bytes }) => {
  beforeAll(() => {
    smallDocumentBytes = bytes;
  });

  describe('ResponseScanner on a Gemini 3 answer', () => {
    describe.each(ANSWERS)('framed as $framing', ({ framing, body, messages }) => {
      const whole = comparable(scan([body], framing));

      it('reports usage, finish reason, images, text and ids', () => {
        expect(whole).toEqual({
          messages,
          usageMetadata: FINAL_USAGE,
          finishReasons: ['STOP'],
          imageCount: 1,
          thoughtImageCount: 1,
          images: [
            { mimeType: 'image/png', base64: THOUGHT_IMAGE, base64Length: THOUGHT_IMAGE.length, thought: true, candidateIndex: 0 },
            { mimeType: 'image/png', base64: FINAL_IMAGE, base64Length: FINAL_IMAGE.length, thought: false, candidateIndex: 0 },
          ],
          text: FINAL_TEXT,
          thoughtText: THOUGHT_TEXT,
          signedParts: [],
          modelVersion: MODEL_VERSION,
          responseId: RESPONSE_ID,
          malformed: false,
          bytes: body.length,
        });
      });

      it('keeps thought signatures when asked, and reports each part as it closes, wherever the body is cut', () => {
        const run = (chunks: Buffer[]) => {
          const parts: Array<{ thought: boolean; text?: string; image?: string; signature?: string }> = [];
          const scanner = newScanner({
            framing,
            captureImages: true,
            captureSignatures: true,
            onPart: (p) =>
              parts.push({
                thought: p.thought,
                ...(p.text !== undefined ? { text: p.text } : {}),
                ...(p.image ? { image: Buffer.concat(p.image.base64).toString('latin1') } : {}),
                ...(p.thoughtSignature !== undefined ? { signature: p.thoughtSignature } : {}),
              }),
          });
          for (const c of chunks) scanner.write(c);
          const summary = scanner.end();
          // A streamed text is its deltas; joined, they are the text.
          const joined = parts.reduce<typeof parts>((out, p) => {
            const last = out[out.length - 1];
            if (last && p.text !== undefined && last.text !== undefined && !p.image && !last.image && p.thought === last.thought && p.signature === undefined) last.text += p.text;
            else out.push({ ...p });
            return out;
          }, []);
          return { signedParts: summary.signedParts, finalSignature: summary.images.find((i) => !i.thought)?.thoughtSignature, parts: joined };
        };
        const expected = {
          signedParts: [
            { kind: 'text', index: 0, signature: SIGNATURE },
            { kind: 'image', index: 0, signature: SIGNATURE },
          ],
          finalSignature: SIGNATURE,
          parts: [
            { thought: true, text: THOUGHT_TEXT },
            { thought: true, image: THOUGHT_IMAGE },
            { thought: false, text: FINAL_TEXT, signature: SIGNATURE },
            { thought: false, image: FINAL_IMAGE, signature: SIGNATURE },
          ],
        };
        expect(run([body])).toEqual(expected);
        for (let cut = 1; cut < body.length; cut += 7) expect(run(splitAt(body, [cut]))).toEqual(expected);
      });

      it('keeps no image data unless asked to', () => {
        const summary = scan([body], framing, false);
        expect(summary.images).toEqual([]);
        expect(summary.imageCount).toBe(1);
        expect(summary.thoughtImageCount).toBe(1);
      });

      it('reports the same summary when the body arrives byte by byte', () => {
        const bytes = Array.from({ length: body.length }, (_, i) => body.subarray(i, i + 1));
        expect(comparable(scan(bytes, framing))).toEqual(whole);
      });

      it('reports the same summary wherever the body is cut in two', () => {
        for (let cut = 1; cut < body.length; cut++) {
          const summary = comparable(scan(splitAt(body, [cut]), framing));
          if (JSON.stringify(summary) !== JSON.stringify(whole)) expect({ cut, summary }).toEqual({ cut, summary: whole });
        }
      });

      it('reports the same summary for random sets of cuts', () => {
        fc.assert(
          fc.property(fc.uniqueArray(fc.integer({ min: 1, max: body.length - 1 }), { maxLength: 60 }), (cuts) => {
            expect(comparable(scan(splitAt(body, cuts), framing))).toEqual(whole);
          }),
          { numRuns: 300 },
        );
      });

      const at = (needle: string | Buffer, offset: number) => {
        const position = body.indexOf(needle);
        expect(position, `${needle.toString()} occurs in the body`).toBeGreaterThan(0);
        return position + offset;
      };
      it.each([
        ['inside the final base64', () => at(FINAL_IMAGE, 200)],
        ['inside the usageMetadata key', () => at('"usageMetadata"', 6)],
        ['between the backslash and the u of \\u003c', () => at('\\u003c', 1)],
        ['inside the hex digits of \\u003c', () => at('\\u003c', 4)],
        ['inside a 4-byte UTF-8 character', () => at(Buffer.from('🚀'), 2)],
        ['inside a 2-byte UTF-8 character', () => at(Buffer.from('é'), 1)],
        ['inside a token count', () => at('1127', 2)],
        ['inside the literal true', () => at('true', 2)],
      ])('reports the same summary when cut %s', (_, cut) => {
        const position = cut();
        expect(comparable(scan(splitAt(body, [position]), framing))).toEqual(whole);
        expect(comparable(scan(splitAt(body, [position - 1, position, position + 1]), framing))).toEqual(whole);
      });
    });

    it.each([1, 2, 3])('reports the same SSE summary when cut %i bytes into \\r\\n\\r\\n', (offset) => {
      const body = ANSWERS[2]!.body;
      const whole = comparable(scan([body], 'sse'));
      for (let from = body.indexOf('\r\n\r\n'); from !== -1; from = body.indexOf('\r\n\r\n', from + 1)) {
        expect(comparable(scan(splitAt(body, [from + offset]), 'sse'))).toEqual(whole);
      }
    });

    it('captures images that concatenate to exactly the base64 Google sent', () => {
      const summary = scanText(prettyLikeGoogle(GEMINI3_ANSWER), 'json');
      expect(summary.images.map((image) => Buffer.concat(image.base64).toString())).toEqual([THOUGHT_IMAGE, FINAL_IMAGE]);
    });
  });

  describe('ResponseScanner on escaped base64', () => {
    // Some JSON writers escape '/' as '\/' and '=' as '\u003d'; both are the same base64.
    const image = fakeBase64('slashes', 301);
    const escaped = image.replaceAll('/', '\\/').replaceAll('=', '\\u003d');
    const body = Buffer.from(`{"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/jpeg","data": "${escaped}"}}]},"index": 0}]}`);

    it('decodes the escapes into one buffer', () => {
      expect(escaped).toContain('\\/');
      expect(escaped).toContain('\\u003d');
      const summary = scan([body], 'json');
      expect(summary.images).toHaveLength(1);
      expect(summary.images[0]!.base64).toHaveLength(1);
      expect(summary.images[0]!.base64[0]!.toString()).toBe(image);
      expect(summary.images[0]!.base64Length).toBe(image.length);
      expect(summary.images[0]!.mimeType).toBe('image/jpeg');
    });

    it("with captureImages 'ranges', gives a tokenized image as ranges and a small parsed one as its bytes", () => {
      const scanner = newScanner({ framing: 'json', captureImages: 'ranges' });
      scanner.write(body);
      const [found] = scanner.end().images;
      if (smallDocumentBytes === 0) {
        expect(found!.ranges).toBeDefined();
        expect(found!.escaped).toBe(true);
        expect(found!.base64).toEqual([]);
      } else {
        expect(found!.ranges).toBeUndefined();
        expect(Buffer.concat(found!.base64).toString()).toBe(image);
      }
      expect(found!.base64Length).toBe(smallDocumentBytes === 0 ? escaped.length : image.length);
    });

    it('decodes them wherever the body is cut', () => {
      for (let cut = 1; cut < body.length; cut++) {
        const summary = scan(splitAt(body, [cut]), 'json');
        expect(Buffer.concat(summary.images[0]!.base64).toString()).toBe(image);
      }
    });

    it('keeps an escaped quote and backslash inside a string from ending it', () => {
      const text = 'a "quoted" \\ backslash \\"';
      const answer = { candidates: [{ content: { parts: [{ text, thoughtSignature: 'x\\"y' }, { text: '!' }] }, index: 0 }] };
      const json = Buffer.from(JSON.stringify(answer));
      for (let cut = 1; cut < json.length; cut++) {
        const summary = scan(splitAt(json, [cut]), 'json');
        expect(summary.text).toBe(`${text}!`);
        expect(summary.malformed).toBe(false);
      }
    });
  });

  describe('ResponseScanner on the outcomes Google reports', () => {
    it('reports a blocked prompt', () => {
      const summary = scanText(
        prettyLikeGoogle({
          promptFeedback: {
            blockReason: 'PROHIBITED_CONTENT',
            blockReasonMessage: 'The prompt was blocked.',
            safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH' }],
          },
          usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 },
          modelVersion: MODEL_VERSION,
          responseId: 'blocked-1',
        }),
        'json',
      );
      expect(summary).toMatchObject({
        messages: 1,
        blockReason: 'PROHIBITED_CONTENT',
        blockReasonMessage: 'The prompt was blocked.',
        finishReasons: [],
        imageCount: 0,
        usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 },
        responseId: 'blocked-1',
        malformed: false,
      });
      expect(summary.error).toBeUndefined();
    });

    it('reports an IMAGE_SAFETY candidate that has no content', () => {
      const summary = scanText(
        prettyLikeGoogle({
          candidates: [{ finishReason: 'IMAGE_SAFETY', index: 0, finishMessage: 'Unable to show the generated image.' }],
          usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 },
          modelVersion: MODEL_VERSION,
          responseId: 'r',
        }),
        'json',
      );
      expect(summary).toMatchObject({
        finishReasons: ['IMAGE_SAFETY'],
        finishMessage: 'Unable to show the generated image.',
        imageCount: 0,
        text: '',
        malformed: false,
      });
      expect(summary.blockReason).toBeUndefined();
    });

    it('reports a text-only answer', () => {
      const summary = scanText(
        prettyLikeGoogle({
          candidates: [{ content: { parts: [{ text: 'I cannot draw that, ' }, { text: 'but here is a poem.' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
          usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 12, totalTokenCount: 21 },
        }),
        'json',
      );
      expect(summary).toMatchObject({ finishReasons: ['STOP'], imageCount: 0, thoughtImageCount: 0, images: [], text: 'I cannot draw that, but here is a poem.' });
    });

    it('judges a part thought whether the flag comes before or after its data', () => {
      const part = (thoughtFirst: boolean) =>
        thoughtFirst ? `{"thought": true,"inlineData": {"mimeType": "image/png","data": "AAAA"}}` : `{"inlineData": {"mimeType": "image/png","data": "AAAA"},"thought": true}`;
      for (const thoughtFirst of [true, false]) {
        const summary = scanText(`{"candidates": [{"content": {"parts": [${part(thoughtFirst)},{"text": "t","thought": true}]}}]}`, 'json');
        expect(summary).toMatchObject({ imageCount: 0, thoughtImageCount: 1, text: '' });
        expect(summary.images.map((image) => image.thought)).toEqual([true]);
      }
    });

    it('does not count inline data that is not an image', () => {
      const summary = scanText(`{"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "audio/wav","data": "AAAA"}}]}}]}`, 'json');
      expect(summary).toMatchObject({ imageCount: 0, thoughtImageCount: 0, images: [] });
    });

    it('orders finish reasons by candidate index and gives images their candidate index', () => {
      const candidate = (index: number, reason: string) => ({
        content: { parts: [{ inlineData: { mimeType: 'image/png', data: `IMG${index}` } }] },
        finishReason: reason,
        index,
      });
      const summary = scanText(prettyLikeGoogle({ candidates: [candidate(1, 'MAX_TOKENS'), candidate(0, 'STOP')] }), 'json');
      expect(summary.finishReasons).toEqual(['STOP', 'MAX_TOKENS']);
      expect(summary.images.map((image) => [Buffer.concat(image.base64).toString(), image.candidateIndex])).toEqual([
        ['IMG1', 1],
        ['IMG0', 0],
      ]);
      expect(summary.imageCount).toBe(2);
    });

    it('takes finish reasons from the last message that had them', () => {
      const event = (reason?: string) => ({ candidates: [{ content: { parts: [{ text: 'x' }] }, ...(reason ? { finishReason: reason } : {}), index: 0 }] });
      expect(scanText(sseLikeGoogle([event('OTHER'), event()]), 'sse').finishReasons).toEqual(['OTHER']);
      expect(scanText(sseLikeGoogle([event('OTHER'), event(), event('STOP')]), 'sse').finishReasons).toEqual(['STOP']);
    });

    it('takes the last usageMetadata of a stream', () => {
      const event = (total: number) => ({ candidates: [], usageMetadata: { promptTokenCount: 5, totalTokenCount: total } });
      expect(scanText(sseLikeGoogle([event(5), event(900), event(1300)]), 'sse').usageMetadata).toEqual({ promptTokenCount: 5, totalTokenCount: 1300 });
    });

    it('drops usage fields of the wrong type and keeps unknown ones', () => {
      const summary = scanText('{"usageMetadata": {"promptTokenCount": "12","totalTokenCount": 40,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 12}, 7],"futureField": {"a": [1]}}}', 'json');
      expect(summary.usageMetadata).toEqual({ totalTokenCount: 40, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 12 }], futureField: { a: [1] } });
    });
  });

  describe("ResponseScanner on Google's modelStatus (#11)", () => {
    // Google's lifecycle verdict rides on every answer of a model on its way out (models-2026-11.md §5).
    const STATUS = { modelStage: 'LEGACY', retirementTime: '2026-12-31T00:00:00Z', message: 'Migrate to <gemini-nano-banana-2.1> & soon.' };
    const withStatus = (message: Record<string, unknown>, status: unknown = STATUS) => ({ ...message, modelStatus: status });
    const BODIES: Array<{ framing: Framing; body: Buffer }> = [
      { framing: 'json', body: Buffer.from(prettyLikeGoogle(withStatus(GEMINI3_ANSWER))) },
      { framing: 'json-array', body: Buffer.from(jsonArrayLikeGoogle(GEMINI3_STREAM.map((c) => withStatus(c)))) },
      { framing: 'sse', body: Buffer.from(sseLikeGoogle(GEMINI3_STREAM.map((c) => withStatus(c)))) },
    ];

    it.each(BODIES)('reports it from a $framing answer, the rest of the summary unchanged', ({ framing, body }) => {
      const summary = comparable(scan([body], framing));
      expect(summary.modelStatus).toEqual(STATUS);
      const plain = ANSWERS.find((a) => a.framing === framing)!.body;
      expect({ ...summary, modelStatus: undefined, bytes: 0 }).toEqual({ ...comparable(scan([plain], framing)), modelStatus: undefined, bytes: 0 });
    });

    it.each(BODIES)('reports the same modelStatus wherever a $framing answer is cut in two', ({ framing, body }) => {
      for (let cut = 1; cut < body.length; cut++) {
        const status = scan(splitAt(body, [cut]), framing).modelStatus;
        if (JSON.stringify(status) !== JSON.stringify(STATUS)) expect({ cut, status }).toEqual({ cut, status: STATUS });
      }
    });

    it('agrees with JSON.parse of the last event, for random sets of cuts', () => {
      const { body } = BODIES[2]!;
      const lastEvent = body.toString().trim().split('\r\n\r\n').at(-1)!.slice('data: '.length);
      const oracle = (JSON.parse(lastEvent) as { modelStatus: unknown }).modelStatus;
      fc.assert(
        fc.property(fc.uniqueArray(fc.integer({ min: 1, max: body.length - 1 }), { maxLength: 40 }), (cuts) => {
          expect(scan(splitAt(body, cuts), 'sse').modelStatus).toEqual(oracle);
        }),
        { numRuns: 100 },
      );
    });

    it('takes the last modelStatus of a stream', () => {
      const events = [withStatus(GEMINI3_STREAM[0]!, { modelStage: 'STABLE' }), GEMINI3_STREAM[1], withStatus(GEMINI3_STREAM[3]!, { modelStage: 'DEPRECATED' })];
      expect(scanText(sseLikeGoogle(events), 'sse').modelStatus).toEqual({ modelStage: 'DEPRECATED' });
    });

    it('keeps only its known string fields', () => {
      const summary = scanText('{"modelStatus": {"modelStage": 7,"retirementTime": "2027-01-01T00:00:00Z","message": null,"future": {"a": 1}},"candidates": []}', 'json');
      expect(summary.modelStatus).toEqual({ retirementTime: '2027-01-01T00:00:00Z' });
    });

    it('reads only the top-level member: one inside a candidate or usageMetadata is not it', () => {
      const summary = scanText(
        prettyLikeGoogle({ candidates: [{ modelStatus: STATUS, finishReason: 'STOP', index: 0 }], usageMetadata: { promptTokenCount: 1, modelStatus: STATUS } }),
        'json',
      );
      expect(summary.modelStatus).toBeUndefined();
      expect(summary.usageMetadata).toEqual({ promptTokenCount: 1, modelStatus: STATUS });
    });

    it('leaves it unset when the answer has none, or one that is not an object', () => {
      expect(scan([ANSWERS[0]!.body], 'json').modelStatus).toBeUndefined();
      expect(scanText('{"modelStatus": "LEGACY","candidates": []}', 'json').modelStatus).toBeUndefined();
    });
  });

  describe('ResponseScanner on error envelopes', () => {
    const ENVELOPE = {
      error: {
        code: 429,
        message: 'You exceeded your current quota. Please retry in 37.2s.',
        status: 'RESOURCE_EXHAUSTED',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier', quotaValue: '10' }] },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37s' },
        ],
      },
    };

    it.each<[string, string, Framing]>([
      ['the whole body', prettyLikeGoogle(ENVELOPE), 'json'],
      ['the whole body of a stream request', prettyLikeGoogle(ENVELOPE), 'sse'],
      ['the whole body of an array stream request', prettyLikeGoogle(ENVELOPE), 'json-array'],
      ['an array element', `[${prettyLikeGoogle(ENVELOPE)}]`, 'json-array'],
      ['an SSE event', `data: ${compactLikeGoogle(ENVELOPE)}\r\n\r\n`, 'sse'],
    ])('reports the envelope as %s', (_, body, framing) => {
      const summary = scanText(body, framing);
      expect(summary.error).toEqual(ENVELOPE.error);
      expect(summary.messages).toBe(1);
      expect(summary.malformed).toBe(false);
    });

    it('reports an error event that ends a stream, with what came before it', () => {
      const body = sseLikeGoogle([GEMINI3_STREAM[0], GEMINI3_STREAM[1], { error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } }]);
      const summary = scanText(body, 'sse');
      expect(summary).toMatchObject({
        messages: 3,
        error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' },
        thoughtImageCount: 1,
        imageCount: 0,
        usageMetadata: { promptTokenCount: 1139, totalTokenCount: 1339 },
        malformed: false,
      });
    });
  });

  describe('ResponseScanner on SSE framing', () => {
    const event = { candidates: [{ content: { parts: [{ text: 'Hi' }, { inlineData: { mimeType: 'image/png', data: 'QUJD' } }] }, finishReason: 'STOP', index: 0 }], usageMetadata: { totalTokenCount: 3 } };
    const json = JSON.stringify(event);
    const expected = comparable(scanText(`data: ${json}\r\n\r\n`, 'sse'));

    it.each([
      ['data: with LF line ends', `data: ${json}\n\n`],
      ['data: with CR line ends', `data: ${json}\r\r`],
      ['data: without a space', `data:${json}\r\n\r\n`],
      ['comments and other fields', `: keep-alive\r\nevent: message\r\nid: 7\r\nretry: 10\r\ndata: ${json}\r\n\r\n: bye\r\n\r\n`],
      ['the JSON over several data lines', `data: {"candidates":\ndata:  ${JSON.stringify(event.candidates)},\r\ndata:"usageMetadata": {"totalTokenCount": 3}}\n\n`],
      ['a bare "data" line joining in an empty line', `data\ndata: ${json}\n\n`],
      ['empty events around it', `\r\n\r\ndata:\r\n\r\ndata: ${json}\r\n\r\n\r\n`],
      ['no blank line after the last event', `data: ${json}\r\n`],
      ['a field that only starts like data', `dataset: {"broken\r\ndata: ${json}\r\n\r\n`],
    ])('reads %s', (_, body) => {
      const summary = comparable(scanText(body, 'sse'));
      expect(summary).toEqual({ ...expected, bytes: Buffer.byteLength(body) });
      // and split anywhere
      const bytes = Buffer.from(body);
      for (let cut = 1; cut < bytes.length; cut++) expect(comparable(scan(splitAt(bytes, [cut]), 'sse'))).toEqual(summary);
    });

    it('counts each event as a message', () => {
      expect(scanText(`data: ${json}\n\ndata: ${json}\n\n`, 'sse')).toMatchObject({ messages: 2, imageCount: 2, text: 'HiHi' });
    });

    it('rejects a string broken over two data lines, and reads the events after it', () => {
      const summary = scanText(`data: {"modelVersion": "a\ndata: b"}\n\ndata: ${json}\n\n`, 'sse');
      expect(summary).toMatchObject({ malformed: true, messages: 2, imageCount: 1, usageMetadata: { totalTokenCount: 3 } });
    });

    it('reads the events after one that is not JSON', () => {
      const summary = scanText(`data: [DONE\n\ndata: ${json}\n\n`, 'sse');
      expect(summary).toMatchObject({ malformed: true, messages: 1, imageCount: 1, finishReasons: ['STOP'] });
    });
  });

  describe('ResponseScanner on broken bodies', () => {
    const JSON_BODY = ANSWERS[0]!.body;

    it('reports what came before a truncation, at every possible length', () => {
      const complete = JSON_BODY.lastIndexOf('}') + 1;
      let previousImages = 0;
      for (let length = 0; length <= JSON_BODY.length; length++) {
        const summary = scan([JSON_BODY.subarray(0, length)], 'json');
        expect(summary.malformed, `length ${length}`).toBe(length < complete);
        expect(summary.imageCount + summary.thoughtImageCount).toBeGreaterThanOrEqual(previousImages);
        previousImages = summary.imageCount + summary.thoughtImageCount;
        expect(summary.bytes).toBe(length);
      }
      expect(previousImages).toBe(2);
    });

    it('reports the usage of earlier events when a stream is cut inside its last event', () => {
      const body = ANSWERS[2]!.body;
      const lastEvent = body.lastIndexOf('data: ');
      const summary = scan([body.subarray(0, lastEvent + 200)], 'sse');
      expect(summary).toMatchObject({
        malformed: true,
        messages: 4,
        finishReasons: [],
        thoughtImageCount: 1,
        imageCount: 0,
        usageMetadata: { promptTokenCount: 1139, totalTokenCount: 1339 },
      });
    });

    it('does not count an image whose part was cut off', () => {
      const body = ANSWERS[0]!.body;
      const summary = scan([body.subarray(0, body.indexOf(FINAL_IMAGE) + 10)], 'json');
      expect(summary).toMatchObject({ malformed: true, imageCount: 0, thoughtImageCount: 1 });
      expect(summary.images).toHaveLength(1);
    });

    const HTML = '<!DOCTYPE html>\n<html lang=en><title>Error 502 (Server Error)!!1</title><p>That’s an error.</p></html>\n';
    it.each<[string, string, Framing]>([
      ['an empty body', '', 'json'],
      ['an empty SSE body', '', 'sse'],
      ['an empty array stream', '', 'json-array'],
      ['an HTML error page', HTML, 'json'],
      ['an HTML error page read as SSE', HTML, 'sse'],
      ['an HTML error page read as an array', HTML, 'json-array'],
      ['an empty array', '[]', 'json-array'],
      ['a bare string', '"STOP"', 'json'],
      ['an array of numbers', '[1, 2]', 'json-array'],
      ['trailing garbage', '{"modelVersion": "m"} x', 'json'],
      ['two documents', '{"modelVersion": "m"}{"modelVersion": "n"}', 'json'],
      ['an unclosed array', '{"candidates": [}', 'json'],
      ['a bad escape', '{"modelVersion": "\\x"}', 'json'],
      ['a bad unicode escape', '{"modelVersion": "\\u12G4"}', 'json'],
      ['a leading zero', '{"usageMetadata": {"totalTokenCount": 01}}', 'json'],
      ['a misspelt literal', '{"candidates": [{"content": {"parts": [{"thought": tru}]}}]}', 'json'],
      ['only comments', ': hello\r\n\r\n', 'sse'],
    ])('flags %s as malformed', (_, body, framing) => {
      const summary = scanText(body, framing);
      expect(summary.malformed).toBe(true);
      expect(summary.bytes).toBe(Buffer.byteLength(body));
    });

    it('never throws on arbitrary bytes, in any framing, however they are cut', () => {
      fc.assert(
        fc.property(
          fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.json().map((s) => Buffer.from(s))),
          fc.constantFrom<Framing>('json', 'json-array', 'sse'),
          fc.array(fc.nat(), { maxLength: 8 }),
          (bytes, framing, cuts) => {
            const body = Buffer.from(bytes);
            const summary = scan(splitAt(body, cuts.map((c) => (body.length === 0 ? 0 : c % body.length))), framing);
            expect(summary.bytes).toBe(body.length);
          },
        ),
        { numRuns: 500 },
      );
    });

    it('ignores writes after end and returns the same summary again', () => {
      const scanner = newScanner({ framing: 'json' });
      scanner.write(ANSWERS[0]!.body);
      const summary = scanner.end();
      scanner.write(Buffer.from('garbage'));
      expect(scanner.end()).toBe(summary);
      expect(summary.malformed).toBe(false);
    });
  });

  describe('ResponseScanner memory on a 20 MB answer', () => {
    const image = fakeBase64('big', 15 * 1024 * 1024); // 20 MiB of base64
    const body = Buffer.from(
      prettyLikeGoogle({
        candidates: [{ content: { parts: [{ text: 'Here.', thoughtSignature: fakeBase64('big-signature', 3000) }, { inlineData: { mimeType: 'image/png', data: image } }], role: 'model' }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 2000, totalTokenCount: 2010 },
      }),
    );
    const CHUNK = 64 * 1024;
    // Own ArrayBuffer per chunk, as a socket delivers them.
    const chunks: Buffer[] = [];
    for (let from = 0; from < body.length; from += CHUNK) chunks.push(Buffer.from(body.subarray(from, from + CHUNK)));

    it('holds nothing of the image when not capturing', () => {
      const scanner = newScanner({ framing: 'json' });
      let maxRetained = 0;
      for (const chunk of chunks) {
        scanner.write(chunk);
        maxRetained = Math.max(maxRetained, scanner.retainedBytes());
      }
      const summary = scanner.end();
      expect(summary).toMatchObject({ imageCount: 1, images: [], text: 'Here.', malformed: false, usageMetadata: { totalTokenCount: 2010 } });
      expect(maxRetained).toBeLessThan(1024);
    });

    it('captures the image as slices of the received chunks', () => {
      const scanner = newScanner({ framing: 'json', captureImages: true });
      for (const chunk of chunks) scanner.write(chunk);
      const summary = scanner.end();
      expect(summary.images).toHaveLength(1);
      const captured = summary.images[0]!;
      expect(captured.base64Length).toBe(image.length);
      const chunkBuffers = new Set(chunks.map((chunk) => chunk.buffer));
      for (const slice of captured.base64) expect(chunkBuffers.has(slice.buffer)).toBe(true);
      expect(captured.base64.length).toBeLessThanOrEqual(Math.ceil(image.length / CHUNK) + 1);
      expect(Buffer.concat(captured.base64).equals(Buffer.from(image))).toBe(true);
      expect(scanner.retainedBytes()).toBe(image.length);
    });
  });
});

describe('ResponseScanner switching between JSON.parse and the tokenizer', () => {
  const tokenized = (chunks: Buffer[], framing: Framing) => {
    const scanner = new ResponseScanner({ framing, captureImages: true, smallDocumentBytes: 0 });
    for (const chunk of chunks) scanner.write(chunk);
    return comparable(scanner.end());
  };

  it.each(ANSWERS)('hands a $framing document that outgrows the limit mid-way to the tokenizer, with the same result', ({ framing, body }) => {
    const chunks = splitAt(body, [7, 100, 101, 333, 900]);
    const scanner = new ResponseScanner({ framing, captureImages: true, smallDocumentBytes: 200 });
    for (const chunk of chunks) scanner.write(chunk);
    expect(comparable(scanner.end())).toEqual(tokenized(chunks, framing));
  });

  it('tokenizes a document JSON.parse rejects, so the lenient reading and the fault report are the same', () => {
    // A raw tab inside a string: JSON.parse refuses it, the tokenizer lets it pass.
    const lenient = Buffer.from('{"candidates":[{"content":{"parts":[{"text":"a\tb"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3}}');
    const truncated = lenient.subarray(0, lenient.length - 30);
    for (const body of [lenient, truncated]) {
      const parsed = comparable(scan([body], 'json'));
      expect(parsed).toEqual(tokenized([body], 'json'));
    }
    expect(scan([lenient], 'json').text).toBe('a\tb');
    expect(scan([truncated], 'json').malformed).toBe(true);
  });

  it('stops at the same depth as the tokenizer on a document nested too deep', () => {
    const deep = Buffer.from(`{"candidates":[{"finishReason":"STOP"}],"x":${'['.repeat(600)}${']'.repeat(600)}}`);
    const parsed = scan([deep], 'json');
    expect(parsed.malformed).toBe(true);
    expect(parsed.finishReasons).toEqual(['STOP']);
    expect(comparable(parsed)).toEqual(tokenized([deep], 'json'));
  });

  it('reads an SSE event whose data spans several lines like the tokenizer does', () => {
    const body = Buffer.from('data: {"candidates":[{"finishReason":\r\ndata: "STOP"}],\r\ndata: "usageMetadata":{"promptTokenCount":5}}\r\n\r\n');
    const parsed = scan([body], 'sse');
    expect(parsed.finishReasons).toEqual(['STOP']);
    expect(parsed.usageMetadata?.promptTokenCount).toBe(5);
    expect(comparable(parsed)).toEqual(tokenized([body], 'sse'));
  });
});
