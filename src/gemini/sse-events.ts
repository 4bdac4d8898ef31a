/**
 * An incremental reader of server-sent events that hands on only `data` field bytes, as windows
 * of the chunks written (never copied), for Google's `alt=sse` streams (google-api.md §5).
 *
 * Per the SSE spec (html.spec.whatwg.org, "Interpreting an event stream"): lines end with CRLF,
 * LF or CR; a line starting with ':' is a comment; `data:` may be followed by one optional space;
 * a line without ':' is a field with an empty value; several `data` lines of one event are
 * joined with "\n"; a blank line ends the event. Other fields (`event`, `id`, `retry`) mean
 * nothing to Google's streams and are skipped. Google ends every event with "\r\n\r\n".
 */
export interface SseDataSink {
  /** A `data` line starts; `first` when it is the first of its event. */
  dataLine(first: boolean): void;
  /** Bytes of the current `data` line's value: buf[start, end). */
  data(buf: Buffer, start: number, end: number): void;
  /** A blank line ended an event that had data lines. */
  eventEnd(): void;
}

const CR = 0x0d;
const LF = 0x0a;
const DATA_FIELD = 'data';

const L_START = 0; // at the start of a line
const L_FIELD = 1; // reading a field name that so far matches "data"
const L_SPACE = 2; // after "data:": one optional space
const L_DATA = 3; // inside a data value
const L_IGNORE = 4; // inside a comment or another field

export class SseEventReader {
  readonly #sink: SseDataSink;
  #state = L_START;
  #fieldMatched = 0;
  /** The previous line ended with CR, so a leading LF is the rest of a CRLF, not a blank line. */
  #afterCr = false;
  #dataLines = 0;

  // Positions of the next CR and LF in the chunk being read, so that a chunk holding many short
  // lines is searched once per byte, not once per line.
  #eolChunk: Buffer | undefined;
  #crAt = -1;
  #lfAt = -1;

  constructor(sink: SseDataSink) {
    this.#sink = sink;
  }

  write(buf: Buffer, start = 0): void {
    const end = buf.length;
    this.#eolChunk = undefined;
    let i = start;
    while (i < end) {
      if (this.#state === L_DATA || this.#state === L_IGNORE) {
        const eol = this.#nextLineEnd(buf, i);
        if (this.#state === L_DATA && eol > i) this.#sink.data(buf, i, eol);
        if (eol === end) return;
        this.#lineEnd(buf[eol]!);
        i = eol + 1;
        continue;
      }
      const c = buf[i]!;
      i++;
      if (this.#state === L_START) {
        if (this.#afterCr) {
          this.#afterCr = false;
          if (c === LF) continue;
        }
        if (c === CR || c === LF) {
          this.#lineEnd(c);
          this.#blankLine();
        } else if (c === 0x3a /* : comment */) {
          this.#state = L_IGNORE;
        } else {
          this.#state = L_FIELD;
          this.#fieldMatched = 0;
          this.#fieldByte(c);
        }
      } else if (this.#state === L_FIELD) {
        this.#fieldByte(c);
      } else {
        // L_SPACE: the one optional space after "data:".
        this.#state = L_DATA;
        if (c !== 0x20) i--;
      }
    }
  }

  /**
   * The stream ended. The spec discards an event that lacks its blank line, but its bytes were
   * Google's (and billed): an event whose data is complete is kept, so hand it on.
   */
  end(): void {
    if (this.#dataLines > 0) this.#blankLine();
  }

  #fieldByte(c: number): void {
    if (this.#fieldMatched < DATA_FIELD.length) {
      if (c === DATA_FIELD.charCodeAt(this.#fieldMatched)) {
        this.#fieldMatched++;
      } else if (c === CR || c === LF) {
        this.#lineEnd(c); // a field name alone, not "data": nothing to do
      } else {
        this.#state = L_IGNORE;
      }
      return;
    }
    if (c === 0x3a) {
      this.#startDataLine();
      this.#state = L_SPACE;
    } else if (c === CR || c === LF) {
      this.#startDataLine(); // "data" alone: a data line with an empty value
      this.#lineEnd(c);
    } else {
      this.#state = L_IGNORE; // "dataX..."
    }
  }

  #startDataLine(): void {
    this.#sink.dataLine(this.#dataLines === 0);
    this.#dataLines++;
  }

  #lineEnd(c: number): void {
    this.#state = L_START;
    this.#afterCr = c === CR;
  }

  #blankLine(): void {
    if (this.#dataLines === 0) return;
    this.#dataLines = 0;
    this.#sink.eventEnd();
  }

  /** Position of the next CR or LF at or after i, else buf.length. */
  #nextLineEnd(buf: Buffer, i: number): number {
    if (this.#eolChunk !== buf) {
      this.#eolChunk = buf;
      this.#crAt = buf.indexOf(CR, i);
      this.#lfAt = buf.indexOf(LF, i);
    } else {
      if (this.#crAt !== -1 && this.#crAt < i) this.#crAt = buf.indexOf(CR, i);
      if (this.#lfAt !== -1 && this.#lfAt < i) this.#lfAt = buf.indexOf(LF, i);
    }
    const cr = this.#crAt === -1 ? buf.length : this.#crAt;
    const lf = this.#lfAt === -1 ? buf.length : this.#lfAt;
    return Math.min(cr, lf);
  }
}
