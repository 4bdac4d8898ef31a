import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addRequest, emptyRequestStats, inlineRequestStats, RequestStatsScanner, type RequestStats } from '../../src/batch/request-stats.js';

/** Expected counts, from JSON.parse of each line (the oracle): text as the raw bytes JSON.stringify wrote. */
function oracle(text: string): RequestStats {
  const stats = emptyRequestStats();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const parsed = JSON.parse(line) as { request: unknown };
    const r = { textBytes: 0, inputImages: 0, imageSize: null as string | null, candidateCount: null as number | null };
    const walk = (v: unknown, key: string | undefined): void => {
      if (typeof v === 'string') {
        if (key === 'text') r.textBytes += Buffer.byteLength(JSON.stringify(v)) - 2;
        if (key === 'imageSize' || key === 'image_size') r.imageSize = v;
      } else if (typeof v === 'number') {
        if (key === 'candidateCount' || key === 'candidate_count') r.candidateCount = v;
      } else if (Array.isArray(v)) v.forEach((x) => walk(x, undefined));
      else if (v && typeof v === 'object') {
        if (key === 'inlineData' || key === 'inline_data' || key === 'fileData' || key === 'file_data') r.inputImages++;
        for (const [k, x] of Object.entries(v)) walk(x, k);
      }
    };
    walk(parsed.request, undefined);
    addRequest(stats, r);
  }
  return stats;
}

/** Scans `chunks`, storing the state as JSON text between chunks (as an upload session row does). */
function scanResumed(chunks: Buffer[]): { stats: RequestStats; error: string | null } {
  let state = new RequestStatsScanner().state;
  for (const chunk of chunks) {
    const scanner = new RequestStatsScanner(JSON.parse(JSON.stringify(state)));
    scanner.write(chunk);
    state = scanner.state;
  }
  return new RequestStatsScanner(state).finish();
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

const textArb = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constantFrom('line\nbreak "quoted" \\ back\u0001', 'é🍌', ''));
const partArb = fc.oneof(
  textArb.map((text) => ({ text })),
  fc.base64String({ maxLength: 80 }).map((data) => ({ inlineData: { mimeType: 'image/png', data } })),
  fc.base64String({ maxLength: 80 }).map((data) => ({ inline_data: { mime_type: 'image/png', data } })),
  fc.constant({ fileData: { mimeType: 'image/jpeg', fileUri: 'https://x/files/abc' } }),
  textArb.map((text) => ({ text, thought: true, thoughtSignature: 'c2ln' })),
);
const requestArb = fc.record(
  {
    contents: fc.array(fc.record({ role: fc.constantFrom('user', 'model'), parts: fc.array(partArb, { maxLength: 4 }) }), { minLength: 1, maxLength: 3 }),
    generationConfig: fc.record(
      {
        imageConfig: fc.record({ imageSize: fc.constantFrom('512', '1K', '2K', '4K', '8K', '1k'), aspectRatio: fc.constantFrom('1:1', '16:9') }, { requiredKeys: [] }),
        candidateCount: fc.integer({ min: 0, max: 12 }),
        responseModalities: fc.constant(['IMAGE']),
      },
      { requiredKeys: [] },
    ),
    systemInstruction: fc.record({ parts: fc.array(textArb.map((text) => ({ text })), { maxLength: 2 }) }),
    unknownField: fc.jsonValue({ maxDepth: 3 }),
  },
  { requiredKeys: ['contents'] },
);
const lineArb = fc.record({ key: fc.string({ maxLength: 12 }), request: requestArb }, { requiredKeys: ['request'] });
const fileArb = fc
  .tuple(fc.array(lineArb, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean())
  .map(([lines, blank, trailing]) => lines.map((l) => JSON.stringify(l)).join(blank ? '\n\n' : '\n') + (trailing ? '\n' : ''));

describe('request stats of an input JSONL file', () => {
  it('counts what JSON.parse of each line finds, whatever the chunking, with the state stored as JSON between chunks', () => {
    fc.assert(
      fc.property(fileArb, fc.array(fc.nat(), { maxLength: 8 }), (text, cuts) => {
        const body = Buffer.from(text);
        const got = scanResumed(splitAt(body, cuts.map((c) => c % (body.length + 1))));
        expect(got.error).toBeNull();
        expect(got.stats).toEqual(oracle(text));
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same counts for every single cut of a file with escapes, unicode, images and snake_case', () => {
    const lines = [
      { key: 'a"b', request: { contents: [{ parts: [{ text: 'Ünïcödé\n\t"q" \\ 🍌' }, { inline_data: { mime_type: 'image/png', data: 'AAAA' } }] }], generation_config: { image_config: { image_size: '4K' }, candidate_count: 3 } } },
      { request: { contents: [{ parts: [{ text: 'x\u0000y' }, { fileData: { fileUri: 'u' } }] }], generationConfig: { imageConfig: { imageSize: '2K' } } } },
    ];
    const text = `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
    const body = Buffer.from(text);
    const expected = oracle(text);
    expect(expected).toEqual({ requests: 2, textBytes: expect.any(Number), inputImages: 2, bySize: { '4K': { requests: 1, images: 3 }, '2K': { requests: 1, images: 1 } } });
    for (let cut = 0; cut <= body.length; cut++) expect(scanResumed(splitAt(body, [cut]))).toEqual({ stats: expected, error: null });
  });

  it.each([
    ['not JSON', '{"request": {"contents": []}}\n{"request": nope}\n', 'line 2: not valid JSON (a bad number or literal)'],
    ['a line that is no object', '[1, 2]\n', 'line 1: each line must be a JSON object {"key": ..., "request": {...}}'],
    ['a line without a request', '{"request": {"contents": []}}\n\n{"key": "k"}\n', 'line 3: the line has no "request" object'],
    ['a request that is a string', '{"request": "hello"}', 'line 1: the line has no "request" object'],
    ['a request over two lines', '{"request": {"contents":\n []}}', 'line 1: a request must be on one line (JSONL)'],
    ['two values on a line', '{"request": {}} {"request": {}}\n', 'line 1: more than one JSON value on the line'],
    ['a file cut off mid-request', '{"request": {"contents": [{"text": "ab', 'line 1: the file ends in the middle of a request'],
    ['an empty file', '\n\n', 'the file holds no request'],
    ['a bad number', '{"request": {"candidateCount": 01}}', 'line 1: not valid JSON (a bad number or literal)'],
  ])('stops at the first fault: %s', (_name, text, error) => {
    expect(scanResumed([Buffer.from(text)]).error).toBe(error);
  });

  it('keeps no more than a short name in its state while a megabyte of image data streams through', () => {
    const big = 'A'.repeat(1 << 20);
    const line = JSON.stringify({ key: 'k', request: { contents: [{ parts: [{ inlineData: { mimeType: 'image/png', data: big } }, { text: big }] }] } });
    const scanner = new RequestStatsScanner();
    const body = Buffer.from(`${line}\n`);
    let largestState = 0;
    for (let at = 0; at < body.length; at += 65_536) {
      scanner.write(body.subarray(at, at + 65_536));
      largestState = Math.max(largestState, JSON.stringify(scanner.state).length);
    }
    expect(largestState).toBeLessThan(2_000);
    expect(scanner.finish().stats).toMatchObject({ requests: 1, inputImages: 1, textBytes: 1 << 20 });
  });

  it('counts inline requests the same way', () => {
    const requests = [
      { contents: [{ parts: [{ text: 'héllo' }, { inlineData: { mimeType: 'image/png' } }] }], generationConfig: { imageConfig: { imageSize: '2K' }, candidateCount: 2 } },
      { contents: [{ parts: [{ text: 'plain' }] }] },
    ];
    const jsonl = requests.map((request) => JSON.stringify({ request })).join('\n');
    expect(inlineRequestStats(requests)).toEqual(oracle(jsonl));
  });
});
