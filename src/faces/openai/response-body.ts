import { Readable } from 'node:stream';
import type { AnswerSpool } from './answer-spool.js';
import type { SpooledImage } from './images-response.js';
import { imagePieces } from './upstream-calls.js';

/** A response up to this size goes out as one Buffer: one write, no stream machinery. */
const ONE_BUFFER_BYTES = 1 << 20;

type Piece = Buffer | { read: () => AsyncIterable<Buffer> };

/**
 * The body of an images response built by buildImagesResponse: its JSON scaffolding and Google's
 * base64 as it was kept. An image held in memory goes out as slices of the Buffers read from
 * Google (no copy); one in a spool file is read back in order as the client takes it.
 */
export function imagesResponseBody(chunks: ReadonlyArray<Buffer | SpooledImage>, spoolOf: (result: number) => AnswerSpool): Buffer | Readable {
  return piecesBody(chunks.flatMap((chunk) => (Buffer.isBuffer(chunk) ? [chunk] : imagePieces(chunk.image, spoolOf(chunk.result)))));
}

/**
 * A body of Buffers and spooled pieces: one Buffer when it is all in memory and small (the
 * common tiny answer: one write, no stream machinery), else a stream.
 */
export function piecesBody(pieces: readonly Piece[]): Buffer | Readable {
  let bytes = 0;
  for (const p of pieces) {
    if (!Buffer.isBuffer(p)) return new PiecesStream([...pieces]);
    bytes += p.length;
  }
  return bytes <= ONE_BUFFER_BYTES ? Buffer.concat(pieces as Buffer[], bytes) : new PiecesStream([...pieces]);
}

/**
 * Pushes the pieces in order: Buffers at once while the client keeps up, file-backed images
 * chunk by chunk. A read that fails (the spool's disk, the spool disposed) destroys the stream
 * with its error, which ends the response.
 */
class PiecesStream extends Readable {
  readonly #pieces: Piece[];
  #next = 0;
  #reading: AsyncIterator<Buffer> | undefined;
  #pulling = false;

  constructor(pieces: Piece[]) {
    super();
    this.#pieces = pieces;
  }

  override _read(): void {
    if (this.#pulling) return;
    while (this.#reading === undefined && this.#next < this.#pieces.length) {
      const piece = this.#pieces[this.#next++]!;
      if (Buffer.isBuffer(piece)) {
        if (!this.push(piece)) return;
      } else {
        this.#reading = piece.read()[Symbol.asyncIterator]();
      }
    }
    if (this.#reading) {
      this.#pull(this.#reading);
      return;
    }
    if (this.#next >= this.#pieces.length) this.push(null);
  }

  #pull(iterator: AsyncIterator<Buffer>): void {
    this.#pulling = true;
    iterator.next().then(
      (step) => {
        this.#pulling = false;
        if (this.destroyed) return;
        if (step.done) {
          this.#reading = undefined;
          this._read();
        } else if (this.push(step.value)) {
          this._read();
        }
      },
      (err: unknown) => {
        this.#pulling = false;
        this.destroy(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const reading = this.#reading;
    this.#reading = undefined;
    // Ends the spool read (its generator's finally) without waiting for it.
    void reading?.return?.(undefined)?.catch?.(() => {});
    callback(err);
  }
}
