import { randomHex } from '../../random/pool.js';

/**
 * JSON with big base64 strings in it, as a list of Buffers: the small structure goes through
 * JSON.stringify with a placeholder where each image goes, and the image's base64 Buffers are
 * spliced in at the placeholders, never joined into one string (a 4K image is ~20 MB of base64).
 * Base64 needs no JSON escaping, so the slices are valid JSON string contents as they are.
 */
export class JsonSplicer {
  readonly #nonce = randomHex(8);
  readonly #slots: Array<ReadonlyArray<SplicePiece>> = [];

  /** A string to put where `prefix` + the base64 pieces belong (inside a JSON string value). */
  slot(pieces: ReadonlyArray<SplicePiece>, prefix = ''): string {
    const at = this.#slots.length;
    this.#slots.push(prefix ? [Buffer.from(prefix), ...pieces] : pieces);
    return `@@ng${this.#nonce}:${at}@@`;
  }

  /** `value` serialized, each slot replaced by its pieces; every piece must be a Buffer. */
  encode(value: unknown): Buffer[] {
    const out = this.encodePieces(value);
    if (!out.every((p) => Buffer.isBuffer(p))) throw new Error('JsonSplicer.encode: a slot holds a spooled piece; use encodePieces');
    return out as Buffer[];
  }

  /** `value` serialized, each slot replaced by its pieces, spooled ones included (sendJsonPieces writes them). */
  encodePieces(value: unknown): SplicePiece[] {
    const text = JSON.stringify(value);
    const out: SplicePiece[] = [];
    const pattern = new RegExp(`@@ng${this.#nonce}:(\\d+)@@`, 'g');
    let from = 0;
    for (const m of text.matchAll(pattern)) {
      out.push(Buffer.from(text.slice(from, m.index)));
      for (const piece of this.#slots[Number(m[1])] ?? []) out.push(piece);
      from = m.index + m[0].length;
    }
    out.push(Buffer.from(text.slice(from)));
    return out;
  }
}

/** Base64 still in an answer's spool file: read when the response is written. */
export interface SpooledPiece {
  /** Its length when known (undefined while it holds JSON escapes still to decode). */
  length: number | undefined;
  read(): AsyncIterable<Buffer>;
}

export type SplicePiece = Buffer | SpooledPiece;
