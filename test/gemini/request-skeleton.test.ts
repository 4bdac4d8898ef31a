import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRequestSkeleton } from '../../src/gemini/request-skeleton.js';

/** What the skeleton should be: JSON.parse with every inlineData.data removed. */
function withoutImageData(value: unknown, parentKey?: string): unknown {
  if (Array.isArray(value)) return value.map((v) => withoutImageData(v));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'data' && (parentKey === 'inlineData' || parentKey === 'inline_data') && typeof v === 'string') continue;
      Object.defineProperty(out, k, { value: withoutImageData(v, k), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** Both paths: small bodies through JSON.parse (the default), and everything tokenized (big bodies). */
describe.each([
  { path: 'small bodies parsed whole', parseWholeBytes: undefined },
  { path: 'every body tokenized', parseWholeBytes: 0 },
])('$path', ({ parseWholeBytes }) => {
  const parse = (body: Buffer) => (parseWholeBytes === undefined ? parseRequestSkeleton(body) : parseRequestSkeleton(body, parseWholeBytes));

  describe('request skeleton', () => {
    it('parses like JSON.parse, minus image data', () => {
      const body = {
        contents: [{ role: 'user', parts: [{ text: 'put the cat in a spacesuit \u00e9 🚀' }, { inlineData: { mimeType: 'image/png', data: 'iVBOR'.repeat(1000) } }] }],
        generationConfig: { imageConfig: { imageSize: '4K' }, candidateCount: 1, temperature: 0.5 },
        futureField: [null, true, -1.5e3],
      };
      const skeleton = parse(Buffer.from(JSON.stringify(body, null, 2)));
      expect(skeleton).toEqual(withoutImageData(body));
      expect(JSON.stringify(skeleton)).not.toContain('iVBOR');
    });

    it('agrees with JSON.parse on any JSON document', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          const text = JSON.stringify(value);
          expect(parse(Buffer.from(text))).toEqual(withoutImageData(JSON.parse(text)));
        }),
        { numRuns: 500 },
      );
    });

    it.each(['', '{', '{"a":1,}', '[1 2]', '{"a":1} x', 'nul'])('rejects %j as JSON.parse does', (text) => {
      expect(() => JSON.parse(text)).toThrow();
      expect(() => parse(Buffer.from(text))).toThrow(SyntaxError);
    });
  });
});
