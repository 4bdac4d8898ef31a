/**
 * What admission needs to know of a batch's requests (#16): how many, their text, their input
 * images, and the images they ask for by size, counted as an input JSONL file passes through the
 * gateway on its way to Google. Google keeps uploaded files unreadable (only generated files
 * can be downloaded), so this is the one look the gateway gets.
 *
 * The scanner's whole state is a small plain object (`RequestStatsScanner.state`): a resumable
 * upload's chunks may reach different instances, each of which restores the state from the
 * upload session's row, feeds its chunk, and stores the state back. It never holds more than a
 * short member name or value: request text and image base64 are counted or skipped with
 * indexOf (memchr), never kept.
 *
 * Lines are Google's input format, `{"key": "...", "request": {GenerateContentRequest}}`, one
 * per line; blank lines are skipped. Per request it counts: the raw bytes of every `text`
 * string (escapes as written: an upper bound on the characters), every `inlineData` /
 * `fileData` object (an input image or file), `imageSize` and `candidateCount`, camelCase or
 * snake_case as Google accepts both. The first fault (bad JSON, a line that is no object or has
 * no `request` object, a request spread over several lines) is kept with its line number and
 * ends the scan.
 */

export const IMAGE_SIZE_KEYS: readonly string[] = ['512', '1K', '2K', '4K'];

/** Requests and the images they ask for, for one imageSize ('default': none or one the gateway does not know). */
export interface SizeBucket {
  requests: number;
  /** Output images asked for: candidateCount (1 to 8) per request. */
  images: number;
}

export interface RequestStats {
  requests: number;
  /** Raw bytes of the requests' text strings. */
  textBytes: number;
  /** inlineData and fileData parts. */
  inputImages: number;
  bySize: Record<string, SizeBucket>;
}

export interface RequestStatsState {
  /** Bytes fed so far. */
  offset: number;
  /** 1-based line being read. */
  line: number;
  /** Structural state (S_*). */
  s: number;
  /** Token state (T_*). */
  t: number;
  /** 'o' (object) or 'a' (array) per open container. */
  stack: string;
  /** The member name of the value being read, per open object (null: array, or a name not kept). */
  keys: Array<string | null>;
  /** Depth of the line's `request` object once open (0: not inside it). */
  requestDepth: number;
  /** The string being read is a member name. */
  stringIsKey: boolean;
  /** Bytes of the string being kept (a member name, or a value under a key of interest); null: skipped. */
  capture: number[] | null;
  /** The kept string grew past MAX_CAPTURE: only its length matters now. */
  overlong: boolean;
  /** Inside a string: 1 right after a backslash; 2-5: hex digits of \\u still to read. */
  escape: number;
  /** The hex digits of a \\u escape in a kept string. */
  hex: string;
  /** Raw bytes of the current string value so far. */
  stringBytes: number;
  /** The number or literal being read (bounded). */
  word: string;
  current: { textBytes: number; inputImages: number; imageSize: string | null; candidateCount: number | null; hasRequest: boolean };
  totals: RequestStats;
  /** The first fault, with its line; the scan stops there. */
  error: string | null;
}

const S_LINE = 0; // between lines: whitespace, a newline, or a line's first value
const S_VALUE = 1;
const S_FIRST_ELEMENT = 2;
const S_FIRST_KEY = 3;
const S_KEY = 4;
const S_COLON = 5;
const S_AFTER_VALUE = 6;
const S_LINE_END = 7; // the line's value is complete: spaces, then a newline

const T_NONE = 0;
const T_STRING = 1;
const T_WORD = 2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
/** Member names and values of interest are short; longer ones are only measured. */
const MAX_CAPTURE = 64;
const MAX_WORD = 40;
const MAX_DEPTH = 64;

const TEXT_KEYS = new Set(['text']);
const MEDIA_KEYS = new Set(['inlineData', 'inline_data', 'fileData', 'file_data']);
const SIZE_KEYS = new Set(['imageSize', 'image_size']);
const COUNT_KEYS = new Set(['candidateCount', 'candidate_count']);

const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d;
const isWordByte = (c: number): boolean => (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45 || (c >= 0x61 && c <= 0x7a);

export function emptyRequestStats(): RequestStats {
  return { requests: 0, textBytes: 0, inputImages: 0, bySize: {} };
}

export function newRequestStatsState(): RequestStatsState {
  return {
    offset: 0,
    line: 1,
    s: S_LINE,
    t: T_NONE,
    stack: '',
    keys: [],
    requestDepth: 0,
    stringIsKey: false,
    capture: null,
    overlong: false,
    escape: 0,
    hex: '',
    stringBytes: 0,
    word: '',
    current: freshLine(),
    totals: emptyRequestStats(),
    error: null,
  };
}

function freshLine(): RequestStatsState['current'] {
  return { textBytes: 0, inputImages: 0, imageSize: null, candidateCount: null, hasRequest: false };
}

/** Adds one request's counts to `stats` (the scanner per line; the inline path per request). */
export function addRequest(stats: RequestStats, r: { textBytes: number; inputImages: number; imageSize: string | null; candidateCount: number | null }): void {
  stats.requests++;
  stats.textBytes += r.textBytes;
  stats.inputImages += r.inputImages;
  const size = r.imageSize !== null && IMAGE_SIZE_KEYS.includes(r.imageSize) ? r.imageSize : 'default';
  const bucket = (stats.bySize[size] ??= { requests: 0, images: 0 });
  bucket.requests++;
  bucket.images += r.candidateCount !== null && Number.isInteger(r.candidateCount) && r.candidateCount > 1 ? Math.min(r.candidateCount, 8) : 1;
}

/**
 * The same counts for inline requests (already parsed, image data left out): text as UTF-8
 * bytes, which for text without escapes is what the scanner counts.
 */
export function inlineRequestStats(requests: readonly unknown[]): RequestStats {
  const stats = emptyRequestStats();
  for (const request of requests) {
    const r = { textBytes: 0, inputImages: 0, imageSize: null as string | null, candidateCount: null as number | null };
    const walk = (value: unknown, key: string | undefined): void => {
      if (typeof value === 'string') {
        if (key !== undefined && TEXT_KEYS.has(key)) r.textBytes += Buffer.byteLength(value);
        else if (key !== undefined && SIZE_KEYS.has(key)) r.imageSize = value;
        return;
      }
      if (typeof value === 'number') {
        if (key !== undefined && COUNT_KEYS.has(key)) r.candidateCount = value;
        return;
      }
      if (value === null || typeof value !== 'object') return;
      if (Array.isArray(value)) {
        for (const v of value) walk(v, undefined);
        return;
      }
      if (key !== undefined && MEDIA_KEYS.has(key)) r.inputImages++;
      for (const [k, v] of Object.entries(value)) walk(v, k);
    };
    walk(request, undefined);
    addRequest(stats, r);
  }
  return stats;
}

export class RequestStatsScanner {
  readonly #st: RequestStatsState;

  constructor(state: RequestStatsState = newRequestStatsState()) {
    // A copy: the caller's object (from a database row) is not changed under it.
    this.#st = structuredClone(state);
  }

  /** A plain object to store between chunks; `new RequestStatsScanner(state)` resumes from it. */
  get state(): RequestStatsState {
    return structuredClone(this.#st);
  }

  get error(): string | null {
    return this.#st.error;
  }

  write(buf: Buffer): void {
    const st = this.#st;
    let i = 0;
    const n = buf.length;
    while (i < n && st.error === null) {
      if (st.t === T_STRING) {
        i = this.#string(buf, i);
        continue;
      }
      if (st.t === T_WORD) {
        const c = buf[i]!;
        if (isWordByte(c)) {
          if (st.word.length < MAX_WORD) st.word += String.fromCharCode(c);
          i++;
          continue;
        }
        this.#endWord();
        if (st.error !== null) break;
        continue;
      }
      this.#structural(buf[i]!);
      i++;
    }
    st.offset += n;
  }

  /** The input ended: the counts, or the fault that stopped them. */
  finish(): { stats: RequestStats; error: string | null } {
    const st = this.#st;
    if (st.error === null && st.t === T_WORD) this.#endWord();
    if (st.error === null) {
      if (st.s === S_LINE_END) this.#endLine();
      else if (st.s !== S_LINE || st.t !== T_NONE) this.#fail('the file ends in the middle of a request');
    }
    if (st.error === null && st.totals.requests === 0) st.error = 'the file holds no request';
    return { stats: structuredClone(st.totals), error: st.error };
  }

  #fail(why: string): void {
    this.#st.error ??= `line ${this.#st.line}: ${why}`;
  }

  #structural(c: number): void {
    const st = this.#st;
    if (c === NEWLINE) {
      if (st.s === S_LINE) {
        st.line++;
        return;
      }
      if (st.s === S_LINE_END) {
        this.#endLine();
        st.line++;
        return;
      }
      return this.#fail('a request must be on one line (JSONL)');
    }
    if (isWhitespace(c)) return;
    switch (st.s) {
      case S_LINE:
        if (c !== 0x7b) return this.#fail('each line must be a JSON object {"key": ..., "request": {...}}');
        st.current = freshLine();
        return this.#beginValue(c);
      case S_LINE_END:
        return this.#fail('more than one JSON value on the line');
      case S_VALUE:
        return this.#beginValue(c);
      case S_FIRST_ELEMENT:
        if (c === 0x5d) return this.#close('a');
        return this.#beginValue(c);
      case S_FIRST_KEY:
        if (c === 0x7d) return this.#close('o');
        if (c === QUOTE) return this.#beginString(true);
        return this.#fail('not valid JSON (a member name was expected)');
      case S_KEY:
        if (c === QUOTE) return this.#beginString(true);
        return this.#fail('not valid JSON (a member name was expected)');
      case S_COLON:
        if (c === 0x3a) {
          st.s = S_VALUE;
          return;
        }
        return this.#fail("not valid JSON (':' expected)");
      case S_AFTER_VALUE: {
        const top = st.stack[st.stack.length - 1];
        if (c === 0x2c) {
          st.s = top === 'o' ? S_KEY : S_VALUE;
          return;
        }
        if ((c === 0x7d && top === 'o') || (c === 0x5d && top === 'a')) return this.#close(top);
        return this.#fail('not valid JSON (a comma or the end of a container was expected)');
      }
    }
  }

  /** The member name the next value sits under (undefined inside an array or at the top). */
  #key(): string | null {
    const st = this.#st;
    return st.stack[st.stack.length - 1] === 'o' ? (st.keys[st.keys.length - 1] ?? null) : null;
  }

  #inRequest(): boolean {
    return this.#st.requestDepth > 0;
  }

  #beginValue(c: number): void {
    const st = this.#st;
    if (c === 0x7b || c === 0x5b) {
      if (st.stack.length >= MAX_DEPTH) return this.#fail('nested too deep');
      const key = this.#key();
      const depth = st.stack.length + 1;
      if (c === 0x7b) {
        if (depth === 2 && key === 'request') {
          st.requestDepth = depth;
          st.current.hasRequest = true;
        } else if (this.#inRequest() && key !== null && MEDIA_KEYS.has(key)) st.current.inputImages++;
      }
      st.stack += c === 0x7b ? 'o' : 'a';
      st.keys.push(null);
      st.s = c === 0x7b ? S_FIRST_KEY : S_FIRST_ELEMENT;
      return;
    }
    if (st.stack.length === 0) return this.#fail('each line must be a JSON object');
    if (c === QUOTE) return this.#beginString(false);
    if (isWordByte(c)) {
      st.t = T_WORD;
      st.word = String.fromCharCode(c);
      return;
    }
    this.#fail('not valid JSON');
  }

  #close(kind: 'o' | 'a'): void {
    const st = this.#st;
    if (st.requestDepth === st.stack.length) st.requestDepth = 0;
    st.stack = st.stack.slice(0, -1);
    st.keys.pop();
    void kind;
    this.#valueDone();
  }

  #valueDone(): void {
    const st = this.#st;
    st.s = st.stack.length === 0 ? S_LINE_END : S_AFTER_VALUE;
  }

  #beginString(isKey: boolean): void {
    const st = this.#st;
    st.t = T_STRING;
    st.stringIsKey = isKey;
    st.escape = 0;
    st.hex = '';
    st.stringBytes = 0;
    st.overlong = false;
    const key = isKey ? null : this.#key();
    // Member names are kept (short); of values, only imageSize's.
    st.capture = isKey || (this.#inRequest() && key !== null && SIZE_KEYS.has(key)) ? [] : null;
  }

  /** Reads a string from `i`; returns where it stopped (after the closing quote, or the chunk's end). */
  #string(buf: Buffer, i: number): number {
    const st = this.#st;
    const n = buf.length;
    if (st.capture !== null && !st.overlong) return this.#captured(buf, i);
    // Skipped: count raw bytes to the closing quote, stepping over escapes without decoding.
    while (i < n) {
      if (st.escape > 0) {
        // After a backslash any one byte (a \u's hex digits are neither quotes nor backslashes).
        st.escape = 0;
        st.stringBytes++;
        i++;
        continue;
      }
      const q = buf.indexOf(QUOTE, i);
      const end = q < 0 ? n : q;
      const b = buf.indexOf(BACKSLASH, i);
      if (b >= 0 && b < end) {
        st.stringBytes += b - i + 1;
        st.escape = 1;
        i = b + 1;
        continue;
      }
      st.stringBytes += end - i;
      if (q < 0) return n;
      this.#endString();
      return q + 1;
    }
    return i;
  }

  /** A kept string, byte by byte (it is short, or becomes skipped once past MAX_CAPTURE). */
  #captured(buf: Buffer, i: number): number {
    const st = this.#st;
    const n = buf.length;
    const cap = st.capture!;
    while (i < n) {
      const c = buf[i]!;
      i++;
      st.stringBytes++;
      if (st.escape === 1) {
        if (c === 0x75) {
          st.escape = 5;
          st.hex = '';
          continue;
        }
        st.escape = 0;
        const decoded = c === 0x62 ? 0x08 : c === 0x66 ? 0x0c : c === 0x6e ? 0x0a : c === 0x72 ? 0x0d : c === 0x74 ? 0x09 : c;
        cap.push(decoded);
      } else if (st.escape > 1) {
        st.hex += String.fromCharCode(c);
        if (--st.escape === 1) {
          st.escape = 0;
          const code = Number.parseInt(st.hex, 16);
          // Names and values of interest are ASCII; anything else only has to not match them.
          cap.push(code < 0x80 ? code : 0xff);
        }
      } else if (c === BACKSLASH) {
        st.escape = 1;
      } else if (c === QUOTE) {
        st.stringBytes--;
        this.#endString();
        return i;
      } else cap.push(c);
      if (cap.length > MAX_CAPTURE) {
        st.overlong = true;
        st.capture = null;
        return this.#string(buf, i);
      }
    }
    return i;
  }

  #endString(): void {
    const st = this.#st;
    st.t = T_NONE;
    const text = st.capture !== null && !st.overlong ? Buffer.from(st.capture).toString('latin1') : null;
    st.capture = null;
    if (st.stringIsKey) {
      st.keys[st.keys.length - 1] = text;
      st.s = S_COLON;
      return;
    }
    const key = this.#key();
    if (this.#inRequest() && key !== null) {
      if (TEXT_KEYS.has(key)) st.current.textBytes += st.stringBytes;
      else if (SIZE_KEYS.has(key)) st.current.imageSize = text;
    }
    this.#valueDone();
  }

  #endWord(): void {
    const st = this.#st;
    st.t = T_NONE;
    const w = st.word;
    st.word = '';
    if (w !== 'true' && w !== 'false' && w !== 'null') {
      if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(w)) return this.#fail('not valid JSON (a bad number or literal)');
      const key = this.#key();
      if (this.#inRequest() && key !== null && COUNT_KEYS.has(key)) st.current.candidateCount = Number(w);
    }
    this.#valueDone();
  }

  #endLine(): void {
    const st = this.#st;
    if (!st.current.hasRequest) return this.#fail('the line has no "request" object');
    addRequest(st.totals, st.current);
    st.current = freshLine();
    st.s = S_LINE;
  }
}
