/**
 * An incremental (push) JSON tokenizer, for reading Google's answers while they are relayed.
 *
 * A 4K image answer is ~20 MB of JSON, almost all of it one base64 string, and the gateway may
 * relay 64 of them at once: it never buffers or JSON.parse-s a body. This tokenizer is fed the
 * chunks as they arrive and reports structure to a handler, with the key (member name or array
 * index) each container or value sits under. The handler chooses per string whether to skip it,
 * decode it to a JS string (small values), or keep it as zero-copy slices of the chunks (image
 * base64). Skipping or slicing a string costs two `indexOf` (memchr) calls per chunk it spans:
 * one for the closing quote, one for the next backslash, whose position is cached per chunk so
 * strings without escapes are never rescanned.
 *
 * Between writes it keeps only what a token needs to continue: an escape half read, a number's
 * digits, the pieces of a string being captured. Chunks must not be modified after they are
 * written: captured strings may be slices of them.
 *
 * Deliberately lenient, because validating would mean a byte loop over every base64 payload:
 * control characters and invalid UTF-8 inside strings are not rejected. Everything else that
 * JSON.parse rejects is a fault: the tokenizer stops and `failed` becomes true.
 */

/** How the handler wants a string value delivered. */
export type StringCapture = 'skip' | 'text' | 'raw' | 'range';

/** [start, end) byte offsets into everything written to the tokenizer, in write order. */
export type ByteRange = readonly [start: number, end: number];

/** Member name inside an object, index inside an array, undefined at the top level (or for a member name too long to keep). */
export type JsonKey = string | number | undefined;

export interface JsonHandler {
  openContainer(key: JsonKey, isArray: boolean): void;
  closeContainer(): void;
  /** A string value starts under `key`: how it should be delivered when it ends. */
  stringCapture(key: JsonKey): StringCapture;
  /** A string captured as 'text'; undefined when it exceeded the text cap. */
  text(key: JsonKey, value: string | undefined): void;
  /**
   * A string captured as 'raw': its bytes as sent, as slices of the written chunks (concatenated,
   * they are the string's raw bytes). If it contained escapes, one decoded Buffer instead.
   */
  raw(key: JsonKey, pieces: Buffer[], byteLength: number): void;
  /**
   * A string captured as 'range': where its raw bytes sit in the written stream, so a consumer
   * that kept the stream elsewhere (a spool file) can read them back without the tokenizer
   * holding any chunk. `escaped` means the bytes still contain JSON escapes.
   */
  range(key: JsonKey, ranges: ByteRange[], byteLength: number, escaped: boolean): void;
  /** A number (NaN when longer than the number cap), boolean or null. */
  scalar(key: JsonKey, value: number | boolean | null): void;
}

/** Text-captured strings longer than this are reported as undefined (Google's are a few KB). */
export const MAX_TEXT_BYTES = 4 * 1024 * 1024;
export const MAX_KEY_BYTES = 1024;
/** Longer numbers are still validated, but reported as NaN. */
const MAX_NUMBER_CHARS = 64;
/** Google's answers nest about 8 deep; a deeper document is garbage, not a reason to grow a stack. */
export const MAX_DEPTH = 512;

// Structural states: what may come next outside a token.
const S_VALUE = 0; // a value (top level, after ':' or after ',' in an array)
const S_FIRST_ELEMENT = 1; // after '[': a value or ']'
const S_FIRST_KEY = 2; // after '{': a key or '}'
const S_KEY = 3; // after ',' in an object: a key
const S_COLON = 4;
const S_AFTER_VALUE = 5; // ',' or the container's closer
const S_DONE = 6; // the top-level value is complete: only whitespace may follow
const S_ERROR = 7;

// Token states: inside a multi-byte token that may span writes.
const T_NONE = 0;
const T_STRING = 1;
const T_NUMBER = 2;
const T_LITERAL = 3;

// Number grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
const N_MINUS = 0; // after '-': a digit
const N_ZERO = 1; // a leading 0: '.', 'e' or the end
const N_INT = 2;
const N_DOT = 3; // after '.': a digit
const N_FRAC = 4;
const N_E = 5; // after 'e': sign or digit
const N_E_SIGN = 6; // after the exponent sign: a digit
const N_EXP = 7;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHexDigit = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
/** The characters allowed after a backslash: " \ / b f n r t u */
const isEscapeChar = (c: number): boolean =>
  c === QUOTE || c === BACKSLASH || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74 || c === 0x75;

export class JsonTokenizer {
  readonly #handler: JsonHandler;
  #state = S_VALUE;
  #token = T_NONE;
  #started = false;
  /** Per open container: is it an array. */
  #isArray: boolean[] = [];
  /** Per open container: the current member name, or the current element index. */
  #keys: JsonKey[] = [];

  // The string being read.
  #stringIsKey = false;
  #capture: StringCapture = 'skip';
  #pieces: Buffer[] = [];
  #pieceBytes = 0;
  #ranges: Array<[number, number]> = [];
  /** Bytes written so far, and the stream offset of index 0 of the chunk being read. */
  #written = 0;
  #bufBase = 0;
  #overlong = false;
  #escaped = false;
  #afterBackslash = false;
  #hexDigitsLeft = 0;

  // The number being read.
  #numberState = N_MINUS;
  #numberText = '';
  #numberTooLong = false;

  // The literal being read (true, false, null).
  #literal = '';
  #literalMatched = 0;

  // Where the next backslash is in the chunk being read, so that strings without escapes never
  // trigger a second search of the same bytes (the SSE reader writes one chunk in many windows).
  #backslashChunk: Buffer | undefined;
  #backslashFrom = 0;
  #backslashAt = -1;

  constructor(handler: JsonHandler) {
    this.#handler = handler;
  }

  /** A non-whitespace byte has been read (the document is not empty). */
  get started(): boolean {
    return this.#started;
  }

  get failed(): boolean {
    return this.#state === S_ERROR;
  }

  /** Exactly one complete value has been read, and nothing but whitespace after it. */
  get complete(): boolean {
    return this.#state === S_DONE;
  }

  /** Inside a string (where a raw line break would be invalid). */
  get inString(): boolean {
    return this.#token === T_STRING;
  }

  /** Bytes of received data this tokenizer holds (pieces of the string being captured, a number's text). */
  retainedBytes(): number {
    // A string captured as ranges holds no bytes, only where they were.
    return (this.#capture === 'range' ? 0 : this.#pieceBytes) + this.#numberText.length;
  }

  /** Marks the document malformed from outside (e.g. a framing fault) and stops reading it. */
  fail(): void {
    this.#state = S_ERROR;
    this.#token = T_NONE;
    this.#pieces = [];
    this.#ranges = [];
    this.#pieceBytes = 0;
  }

  /** Starts a new document (the next SSE event). */
  reset(): void {
    this.#state = S_VALUE;
    this.#token = T_NONE;
    this.#started = false;
    this.#isArray = [];
    this.#keys = [];
    this.#pieces = [];
    this.#ranges = [];
    this.#pieceBytes = 0;
    this.#numberText = '';
  }

  /**
   * Ends the document: a number at the very end is only complete now. True when exactly one
   * complete value was read.
   */
  finish(): boolean {
    if (this.#token === T_NUMBER) this.#endNumber();
    return this.#state === S_DONE;
  }

  write(buf: Buffer, start = 0, end = buf.length): void {
    this.#bufBase = this.#written - start;
    this.#written += end - start;
    let i = start;
    while (i < end && this.#state !== S_ERROR) {
      if (this.#token === T_STRING) {
        i = this.#readString(buf, i, end);
      } else if (this.#token === T_NUMBER) {
        i = this.#readNumber(buf, i, end);
      } else if (this.#token === T_LITERAL) {
        i = this.#readLiteral(buf, i, end);
      } else {
        const c = buf[i]!;
        i++;
        if (!isWhitespace(c)) {
          this.#started = true;
          this.#structural(c);
        }
      }
    }
  }


  #currentKey(): JsonKey {
    return this.#keys.length === 0 ? undefined : this.#keys[this.#keys.length - 1];
  }

  #valueDone(): void {
    this.#state = this.#isArray.length === 0 ? S_DONE : S_AFTER_VALUE;
  }

  /** One byte outside any token. */
  #structural(c: number): void {
    switch (this.#state) {
      case S_FIRST_ELEMENT:
        if (c === 0x5d /* ] */) return this.#close();
        return this.#beginValue(c);
      case S_VALUE:
        return this.#beginValue(c);
      case S_FIRST_KEY:
        if (c === 0x7d /* } */) return this.#close();
        if (c === QUOTE) return this.#beginString(true);
        return this.fail();
      case S_KEY:
        if (c === QUOTE) return this.#beginString(true);
        return this.fail();
      case S_COLON:
        if (c === 0x3a /* : */) {
          this.#state = S_VALUE;
          return;
        }
        return this.fail();
      case S_AFTER_VALUE: {
        const inArray = this.#isArray[this.#isArray.length - 1]!;
        if (c === 0x2c /* , */) {
          if (inArray) {
            const top = this.#keys.length - 1;
            this.#keys[top] = (this.#keys[top] as number) + 1;
            this.#state = S_VALUE;
          } else {
            this.#state = S_KEY;
          }
          return;
        }
        if (c === (inArray ? 0x5d : 0x7d)) return this.#close();
        return this.fail();
      }
      default: // S_DONE: trailing garbage after the document
        return this.fail();
    }
  }

  #beginValue(c: number): void {
    if (c === QUOTE) return this.#beginString(false);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (this.#isArray.length >= MAX_DEPTH) return this.fail();
      const isArray = c === 0x5b;
      this.#handler.openContainer(this.#currentKey(), isArray);
      this.#isArray.push(isArray);
      this.#keys.push(isArray ? 0 : undefined);
      this.#state = isArray ? S_FIRST_ELEMENT : S_FIRST_KEY;
      return;
    }
    if (c === 0x2d /* - */ || isDigit(c)) {
      this.#token = T_NUMBER;
      this.#numberState = c === 0x2d ? N_MINUS : c === 0x30 ? N_ZERO : N_INT;
      this.#numberText = String.fromCharCode(c);
      this.#numberTooLong = false;
      return;
    }
    const literal = c === 0x74 ? 'true' : c === 0x66 ? 'false' : c === 0x6e ? 'null' : undefined;
    if (literal === undefined) return this.fail();
    this.#token = T_LITERAL;
    this.#literal = literal;
    this.#literalMatched = 1;
  }

  #close(): void {
    this.#isArray.pop();
    this.#keys.pop();
    this.#handler.closeContainer();
    this.#valueDone();
  }

  // ---- strings ------------------------------------------------------------------------------

  #beginString(isKey: boolean): void {
    this.#token = T_STRING;
    this.#stringIsKey = isKey;
    this.#capture = isKey ? 'text' : this.#handler.stringCapture(this.#currentKey());
    this.#pieces = [];
    this.#ranges = [];
    this.#pieceBytes = 0;
    this.#overlong = false;
    this.#escaped = false;
    this.#afterBackslash = false;
    this.#hexDigitsLeft = 0;
  }

  /** Reads string content from i; returns where reading stopped (after the closing quote, or end). */
  #readString(buf: Buffer, i: number, end: number): number {
    const runStart = i;
    let quoteAt = -1;
    while (i < end) {
      // An escape may straddle writes, so it is read byte by byte with its progress kept.
      if (this.#afterBackslash) {
        const c = buf[i]!;
        if (!isEscapeChar(c)) {
          this.fail();
          return end;
        }
        this.#afterBackslash = false;
        if (c === 0x75 /* u */) this.#hexDigitsLeft = 4;
        i++;
        continue;
      }
      if (this.#hexDigitsLeft > 0) {
        if (!isHexDigit(buf[i]!)) {
          this.fail();
          return end;
        }
        this.#hexDigitsLeft--;
        i++;
        continue;
      }
      if (quoteAt < i) {
        quoteAt = buf.indexOf(QUOTE, i);
        if (quoteAt === -1 || quoteAt > end) quoteAt = end;
      }
      const backslashAt = this.#nextBackslash(buf, i, end);
      if (backslashAt < quoteAt) {
        this.#escaped = true;
        this.#afterBackslash = true;
        i = backslashAt + 1;
        continue;
      }
      this.#collect(buf, runStart, quoteAt);
      if (quoteAt === end) return end;
      this.#endString();
      return quoteAt + 1;
    }
    this.#collect(buf, runStart, end);
    return end;
  }

  /** Position of the next backslash at or after i and before end, else end. */
  #nextBackslash(buf: Buffer, i: number, end: number): number {
    if (
      this.#backslashChunk !== buf ||
      i < this.#backslashFrom ||
      (this.#backslashAt !== -1 && this.#backslashAt < i)
    ) {
      this.#backslashChunk = buf;
      this.#backslashFrom = i;
      this.#backslashAt = buf.indexOf(BACKSLASH, i);
    }
    const at = this.#backslashAt;
    return at === -1 || at > end ? end : at;
  }

  #collect(buf: Buffer, from: number, to: number): void {
    if (to <= from || this.#capture === 'skip' || this.#overlong) return;
    if (this.#capture === 'range') {
      const absFrom = this.#bufBase + from;
      const last = this.#ranges[this.#ranges.length - 1];
      if (last && last[1] === absFrom) last[1] = this.#bufBase + to;
      else this.#ranges.push([absFrom, this.#bufBase + to]);
      this.#pieceBytes += to - from;
      return;
    }
    if (this.#capture === 'raw') {
      this.#pieces.push(buf.subarray(from, to));
      this.#pieceBytes += to - from;
      return;
    }
    // Text is small and short-lived: copy it, so the chunk it came in is not kept alive.
    this.#pieceBytes += to - from;
    if (this.#pieceBytes > (this.#stringIsKey ? MAX_KEY_BYTES : MAX_TEXT_BYTES)) {
      this.#overlong = true;
      this.#pieces = [];
      this.#pieceBytes = 0;
      return;
    }
    this.#pieces.push(Buffer.from(buf.subarray(from, to)));
  }

  #endString(): void {
    this.#token = T_NONE;
    const pieces = this.#pieces;
    const ranges = this.#ranges;
    const byteLength = this.#pieceBytes;
    this.#pieces = [];
    this.#ranges = [];
    this.#pieceBytes = 0;
    if (this.#stringIsKey) {
      this.#keys[this.#keys.length - 1] = this.#overlong ? undefined : this.#decodeText(pieces);
      this.#state = S_COLON;
      return;
    }
    const key = this.#currentKey();
    if (this.#capture === 'range') {
      this.#handler.range(key, ranges, byteLength, this.#escaped);
    } else if (this.#capture === 'text') {
      this.#handler.text(key, this.#overlong ? undefined : this.#decodeText(pieces));
    } else if (this.#capture === 'raw') {
      if (this.#escaped) {
        const decoded = unescapeJsonString(Buffer.concat(pieces, byteLength));
        this.#handler.raw(key, [decoded], decoded.length);
      } else {
        this.#handler.raw(key, pieces, byteLength);
      }
    }
    this.#valueDone();
  }

  /** Pieces are whole raw bytes, so a multi-byte character split across chunks decodes intact. */
  #decodeText(pieces: Buffer[]): string {
    const raw = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    return (this.#escaped ? unescapeJsonString(raw) : raw).toString('utf8');
  }

  // ---- numbers and literals -----------------------------------------------------------------

  #readNumber(buf: Buffer, i: number, end: number): number {
    const from = i;
    let state = this.#numberState;
    for (; i < end; i++) {
      const c = buf[i]!;
      const next = nextNumberState(state, c);
      if (next === -1) break;
      state = next;
    }
    this.#numberState = state;
    if (!this.#numberTooLong) {
      this.#numberText += buf.toString('latin1', from, i);
      if (this.#numberText.length > MAX_NUMBER_CHARS) {
        this.#numberTooLong = true;
        this.#numberText = '';
      }
    }
    if (i < end) this.#endNumber();
    return i;
  }

  #endNumber(): void {
    this.#token = T_NONE;
    const s = this.#numberState;
    if (s !== N_ZERO && s !== N_INT && s !== N_FRAC && s !== N_EXP) return this.fail();
    const value = this.#numberTooLong ? Number.NaN : Number(this.#numberText);
    this.#numberText = '';
    this.#handler.scalar(this.#currentKey(), value);
    this.#valueDone();
  }

  #readLiteral(buf: Buffer, i: number, end: number): number {
    const literal = this.#literal;
    while (i < end && this.#literalMatched < literal.length) {
      if (buf[i] !== literal.charCodeAt(this.#literalMatched)) {
        this.fail();
        return end;
      }
      this.#literalMatched++;
      i++;
    }
    if (this.#literalMatched === literal.length) {
      this.#token = T_NONE;
      this.#handler.scalar(this.#currentKey(), literal === 'null' ? null : literal === 'true');
      this.#valueDone();
    }
    return i;
  }
}

/** The number state after byte c, or -1 when c does not continue the number. */
function nextNumberState(state: number, c: number): number {
  const digit = isDigit(c);
  switch (state) {
    case N_MINUS:
      return c === 0x30 ? N_ZERO : digit ? N_INT : -1;
    case N_ZERO:
    case N_INT:
      if (digit) return state === N_INT ? N_INT : -1;
      if (c === 0x2e /* . */) return N_DOT;
      return c === 0x65 || c === 0x45 ? N_E : -1;
    case N_DOT:
      return digit ? N_FRAC : -1;
    case N_FRAC:
      if (digit) return N_FRAC;
      return c === 0x65 || c === 0x45 ? N_E : -1;
    case N_E:
      if (c === 0x2b || c === 0x2d) return N_E_SIGN;
      return digit ? N_EXP : -1;
    default: // N_E_SIGN, N_EXP
      return digit ? N_EXP : -1;
  }
}

/**
 * Decodes the escapes of a JSON string's raw bytes (already validated by the tokenizer) into
 * UTF-8 bytes. The result is never longer than the input: the longest escape, a surrogate pair,
 * is 12 bytes for 4. A lone surrogate becomes U+FFFD, as Buffer.from(string) would make it.
 */
export function unescapeJsonString(raw: Buffer): Buffer {
  const out = Buffer.allocUnsafe(raw.length);
  let o = 0;
  let i = 0;
  while (i < raw.length) {
    const at = raw.indexOf(BACKSLASH, i);
    const runEnd = at === -1 ? raw.length : at;
    o += raw.copy(out, o, i, runEnd);
    if (at === -1) break;
    const c = raw[at + 1]!;
    i = at + 2;
    switch (c) {
      case 0x62: out[o++] = 0x08; break; // \b
      case 0x66: out[o++] = 0x0c; break; // \f
      case 0x6e: out[o++] = 0x0a; break; // \n
      case 0x72: out[o++] = 0x0d; break; // \r
      case 0x74: out[o++] = 0x09; break; // \t
      case 0x75: { // \uXXXX, possibly the first half of a surrogate pair
        let codePoint = parseInt(raw.toString('latin1', i, i + 4), 16);
        i += 4;
        if (codePoint >= 0xd800 && codePoint <= 0xdbff && raw[i] === BACKSLASH && raw[i + 1] === 0x75) {
          const low = parseInt(raw.toString('latin1', i + 2, i + 6), 16);
          if (low >= 0xdc00 && low <= 0xdfff) {
            codePoint = 0x10000 + ((codePoint - 0xd800) << 10) + (low - 0xdc00);
            i += 6;
          }
        }
        if (codePoint >= 0xd800 && codePoint <= 0xdfff) codePoint = 0xfffd;
        o = writeUtf8(out, o, codePoint);
        break;
      }
      default: out[o++] = c; // \" \\ \/
    }
  }
  return out.subarray(0, o);
}

function writeUtf8(out: Buffer, o: number, codePoint: number): number {
  if (codePoint < 0x80) {
    out[o++] = codePoint;
  } else if (codePoint < 0x800) {
    out[o++] = 0xc0 | (codePoint >> 6);
    out[o++] = 0x80 | (codePoint & 0x3f);
  } else if (codePoint < 0x10000) {
    out[o++] = 0xe0 | (codePoint >> 12);
    out[o++] = 0x80 | ((codePoint >> 6) & 0x3f);
    out[o++] = 0x80 | (codePoint & 0x3f);
  } else {
    out[o++] = 0xf0 | (codePoint >> 18);
    out[o++] = 0x80 | ((codePoint >> 12) & 0x3f);
    out[o++] = 0x80 | ((codePoint >> 6) & 0x3f);
    out[o++] = 0x80 | (codePoint & 0x3f);
  }
  return o;
}
