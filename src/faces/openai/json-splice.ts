import { randomHex } from '../../random/pool.js';

/**
 * JSON with big base64 strings in it, as a list of Buffers: the small structure goes through
 * JSON.stringify with a placeholder where each image goes, and the image's base64 Buffers are
 * spliced in at the placeholders, never joined into one string (a 4K image is ~20 MB of base64).
 * Base64 needs no JSON escaping, so the slices are valid JSON string contents as they are.
 */
export class JsonSplicer {
  readonly #nonce = randomHex(8);
  readonly #slots: Array<ReadonlyArray<Buffer>> = [];

  /** A string to put where `prefix` + the base64 pieces belong (inside a JSON string value). */
  slot(pieces: ReadonlyArray<Buffer>, prefix = ''): string {
    const at = this.#slots.length;
    this.#slots.push(prefix ? [Buffer.from(prefix), ...pieces] : pieces);
    return `@@ng${this.#nonce}:${at}@@`;
  }

  /** `value` serialized, each slot replaced by its pieces. */
  encode(value: unknown): Buffer[] {
    const text = JSON.stringify(value);
    const out: Buffer[] = [];
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

/** Total bytes of a list of Buffers. */
export function byteLengthOf(pieces: readonly Buffer[]): number {
  let n = 0;
  for (const p of pieces) n += p.length;
  return n;
}
