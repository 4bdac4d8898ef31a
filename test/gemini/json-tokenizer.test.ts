import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonTokenizer, unescapeJsonString, type ByteRange, type JsonHandler, type JsonKey, type StringCapture } from '../../src/gemini/json-tokenizer.js';

/** Rebuilds the document from the tokenizer's events, to compare with JSON.parse. */
class Rebuilder implements JsonHandler {
  readonly #stack: Array<unknown[] | Record<string, unknown>> = [];
  readonly #capture: StringCapture;
  value: unknown;
  rawPieces: Buffer[][] = [];

  /** The whole document, for resolving 'range' captures. */
  readonly #source: Buffer | undefined;

  constructor(capture: StringCapture = 'text', source?: Buffer) {
    this.#capture = capture;
    this.#source = source;
  }

  openContainer(key: JsonKey, isArray: boolean): void {
    const container = isArray ? [] : {};
    this.#put(key, container);
    this.#stack.push(container);
  }
  closeContainer(): void {
    this.#stack.pop();
  }
  stringCapture(): StringCapture {
    return this.#capture;
  }
  text(key: JsonKey, value: string | undefined): void {
    this.#put(key, value);
  }
  raw(key: JsonKey, pieces: Buffer[], byteLength: number): void {
    expect(Buffer.concat(pieces).length).toBe(byteLength);
    this.rawPieces.push(pieces);
    this.#put(key, Buffer.concat(pieces).toString('utf8'));
  }
  range(key: JsonKey, ranges: ByteRange[], byteLength: number, escaped: boolean): void {
    const bytes = Buffer.concat(ranges.map(([start, end]) => this.#source!.subarray(start, end)));
    expect(bytes.length).toBe(byteLength);
    this.#put(key, (escaped ? unescapeJsonString(bytes) : bytes).toString('utf8'));
  }
  scalar(key: JsonKey, value: number | boolean | null): void {
    this.#put(key, value);
  }
  #put(key: JsonKey, value: unknown): void {
    const top = this.#stack[this.#stack.length - 1];
    if (top === undefined) {
      expect(key).toBeUndefined();
      this.value = value;
    } else if (Array.isArray(top)) {
      expect(key).toBe(top.length);
      top.push(value);
    } else {
      expect(typeof key).toBe('string');
      // an own "__proto__" member, as JSON.parse makes it
      Object.defineProperty(top, key as string, { value, enumerable: true, writable: true, configurable: true });
    }
  }
}

function tokenize(text: string | Buffer, cuts: number[] = [], capture: StringCapture = 'text') {
  const body = Buffer.from(text);
  const handler = new Rebuilder(capture, body);
  const tokenizer = new JsonTokenizer(handler);
  let from = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b)) {
    tokenizer.write(body, from, cut);
    from = cut;
  }
  tokenizer.write(body, from);
  const complete = tokenizer.finish();
  return { complete, failed: tokenizer.failed, value: handler.value, handler };
}

/** Escapes everything outside printable ASCII, and '/', as \uXXXX (surrogate pairs as two escapes). */
const escapeAll = (json: string) => json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).replaceAll('/', '\\/');

const documents = fc
  .tuple(fc.oneof(fc.jsonValue({ stringUnit: 'binary-ascii' }), fc.jsonValue({ stringUnit: 'grapheme' })), fc.constantFrom('compact', 'pretty', 'escaped'))
  .map(([value, style]) => {
    const compact = JSON.stringify(value);
    return style === 'pretty' ? JSON.stringify(value, null, 2) : style === 'escaped' ? escapeAll(compact) : compact;
  });

describe('JsonTokenizer', () => {
  it('reads every document JSON.parse reads, however it is cut', () => {
    fc.assert(
      fc.property(documents, fc.array(fc.nat(), { maxLength: 12 }), (json, cuts) => {
        const result = tokenize(json, cuts);
        expect(result.complete).toBe(true);
        expect(result.value).toEqual(JSON.parse(json));
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees with JSON.parse on damaged documents', () => {
    const damaged = fc
      .tuple(documents, fc.nat(), fc.constantFrom('delete', 'insert'), fc.constantFrom(...'{}[]",:.-+eE0123456789 truefalsn\\u'))
      .map(([json, at, edit, c]) => {
        const i = json.length === 0 ? 0 : at % json.length;
        return edit === 'delete' ? json.slice(0, i) + json.slice(i + 1) : json.slice(0, i) + c + json.slice(i);
      });
    fc.assert(
      fc.property(damaged, fc.array(fc.nat(), { maxLength: 4 }), (json, cuts) => {
        let parses = true;
        try {
          JSON.parse(json);
        } catch {
          parses = false;
        }
        expect(tokenize(json, cuts).complete).toBe(parses);
      }),
      { numRuns: 2000 },
    );
  });

  it('reports the key path: member names in objects, indices in arrays', () => {
    const keys: JsonKey[] = [];
    const handler: JsonHandler = {
      openContainer: (key) => keys.push(key),
      closeContainer: () => undefined,
      stringCapture: (key) => {
        keys.push(key);
        return 'skip';
      },
      text: () => undefined,
      raw: () => undefined,
      range: () => undefined,
      scalar: (key) => keys.push(key),
    };
    const tokenizer = new JsonTokenizer(handler);
    tokenizer.write(Buffer.from('{"a": [1, "x", {"b": null}], "c": true}'));
    expect(tokenizer.finish()).toBe(true);
    expect(keys).toEqual([undefined, 'a', 0, 1, 2, 'b', 'c']);
  });

  it('hands raw strings over as slices of the written chunks', () => {
    const body = Buffer.from('["abcdefghij"]');
    const handler = new Rebuilder('raw');
    const tokenizer = new JsonTokenizer(handler);
    tokenizer.write(body, 0, 5);
    tokenizer.write(body, 5);
    expect(tokenizer.finish()).toBe(true);
    expect(handler.value).toEqual(['abcdefghij']);
    const pieces = handler.rawPieces[0]!;
    expect(pieces.map((p) => p.toString())).toEqual(['abc', 'defghij']);
    for (const piece of pieces) expect(piece.buffer).toBe(body.buffer);
  });

  it('reports range captures as offsets into the written stream, however it is cut, escapes included', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.array(fc.nat(), { maxLength: 8 }), (value, cuts) => {
        const json = JSON.stringify(value, null, 1);
        expect(tokenize(json, cuts, 'range').value).toEqual(JSON.parse(json));
      }),
      { numRuns: 500 },
    );
    const body = Buffer.from('{"data": "abc\\/def"}');
    const t = tokenize(body, [12], 'range');
    expect(t.value).toEqual({ data: 'abc/def' });
  });

  it('holds no bytes of a string captured as a range', () => {
    const tokenizer = new JsonTokenizer(new Rebuilder('range', Buffer.alloc(0)));
    tokenizer.write(Buffer.from('["' + 'A'.repeat(100_000)));
    expect(tokenizer.retainedBytes()).toBe(0);
  });

  it('completes a number only when the document ends', () => {
    const tokenizer = new JsonTokenizer(new Rebuilder());
    tokenizer.write(Buffer.from('12'));
    expect(tokenizer.complete).toBe(false);
    tokenizer.write(Buffer.from('34'));
    expect(tokenizer.finish()).toBe(true);
  });

  it('validates numbers longer than it keeps, and reports them as NaN', () => {
    const long = `[${'9'.repeat(100)}.5e3]`;
    expect(tokenize(long)).toMatchObject({ complete: true, value: [Number.NaN] });
    expect(tokenize(`[${'9'.repeat(100)}.]`).complete).toBe(false);
  });

  it('reports a string longer than the text cap as undefined', () => {
    const big = 'x'.repeat(4 * 1024 * 1024 + 1);
    expect(tokenize(`["${big}", "y"]`, [1_000_000, 3_000_000])).toMatchObject({ complete: true, value: [undefined, 'y'] });
  });

  it('refuses documents nested deeper than Google would ever send', () => {
    expect(tokenize('['.repeat(600) + ']'.repeat(600)).failed).toBe(true);
    expect(tokenize('['.repeat(100) + ']'.repeat(100)).complete).toBe(true);
  });

  it.each([
    ['\\u00e9', 'é'],
    ['\\ud83d\\ude80', '🚀'],
    ['\\ud83d', '\ufffd'],
    ['\\ude80x', '\ufffdx'],
    ['a\\"b\\\\c\\/d\\b\\f\\n\\r\\t', 'a"b\\c/d\b\f\n\r\t'],
  ])('unescapes %s', (escaped, text) => {
    expect(unescapeJsonString(Buffer.from(escaped)).toString('utf8')).toBe(text);
  });
});
