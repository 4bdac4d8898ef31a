/**
 * Relays Google's batches.get answer for a finished inline batch (#16) with Google's names
 * replaced by the gateway's, byte for byte otherwise: the inline responses (every image of the
 * batch) stream through untouched and are never held whole. The few strings to replace are
 * found by the incremental tokenizer as 'range' captures; bytes are handed on as soon as no
 * replaced string can still start in them, so what is held is at most a chunk and a name.
 */
import { Transform } from 'node:stream';
import { JsonTokenizer, type ByteRange, type JsonHandler, type JsonKey, type StringCapture } from '../gemini/json-tokenizer.js';

/** New values, by the path of the string they replace ('name', 'metadata.displayName', ...). */
export type Renames = Readonly<Record<string, string>>;

interface Replacement {
  start: number;
  end: number;
  text: Buffer;
}

class RenameHandler implements JsonHandler {
  readonly #renames: Renames;
  readonly #path: string[] = [];
  /** A replaced string has begun and not ended: its bytes must not be handed on yet. */
  open = false;
  readonly found: Replacement[] = [];
  #pending: string | undefined;

  constructor(renames: Renames) {
    this.#renames = renames;
  }

  openContainer(key: JsonKey): void {
    this.#path.push(key === undefined ? '' : String(key));
  }

  closeContainer(): void {
    this.#path.pop();
  }

  stringCapture(key: JsonKey): StringCapture {
    if (typeof key !== 'string') return 'skip';
    const path = [...this.#path.slice(1), key].join('.');
    const value = this.#renames[path];
    if (value === undefined) return 'skip';
    this.#pending = value;
    this.open = true;
    return 'range';
  }

  text(): void {}
  raw(): void {}
  scalar(): void {}

  range(_key: JsonKey, ranges: ByteRange[], byteLength: number): void {
    this.open = false;
    const value = this.#pending;
    this.#pending = undefined;
    if (value === undefined) return;
    // An empty string has no range: it ends where it starts, after its opening quote.
    const first = ranges[0];
    const last = ranges[ranges.length - 1];
    if (!first || !last || byteLength === 0) return;
    this.found.push({ start: first[0], end: last[1], text: Buffer.from(JSON.stringify(value).slice(1, -1), 'utf8') });
  }
}

/** A Transform that renames as the bytes pass. */
export function renamingStream(renames: Renames): Transform {
  const handler = new RenameHandler(renames);
  const tokenizer = new JsonTokenizer(handler);
  /** Bytes received and not yet handed on, from stream offset `heldFrom`. */
  let held: Buffer[] = [];
  let heldFrom = 0;
  let received = 0;
  const emitUpTo = (stream: Transform, upTo: number) => {
    let at = heldFrom;
    const out: Buffer[] = [];
    const next: Buffer[] = [];
    for (const piece of held) {
      const end = at + piece.length;
      if (end <= upTo) out.push(piece);
      else if (at >= upTo) next.push(piece);
      else {
        out.push(piece.subarray(0, upTo - at));
        next.push(piece.subarray(upTo - at));
      }
      at = end;
    }
    for (const b of out) if (b.length > 0) stream.push(b);
    held = next;
    heldFrom = upTo;
  };
  const dropUpTo = (upTo: number) => {
    let at = heldFrom;
    const next: Buffer[] = [];
    for (const piece of held) {
      const end = at + piece.length;
      if (end > upTo) next.push(at >= upTo ? piece : piece.subarray(upTo - at));
      at = end;
    }
    held = next;
    heldFrom = upTo;
  };
  const drain = (stream: Transform, final: boolean) => {
    for (const r of handler.found.splice(0)) {
      emitUpTo(stream, r.start);
      stream.push(r.text);
      dropUpTo(r.end);
    }
    // While a replaced string is open its start is not known yet: hold everything since the last hand-over.
    if (final || !handler.open || tokenizer.failed) emitUpTo(stream, received);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      held.push(chunk);
      received += chunk.length;
      tokenizer.write(chunk);
      drain(this, false);
      callback();
    },
    flush(callback) {
      tokenizer.finish();
      drain(this, true);
      callback();
    },
  });
}
