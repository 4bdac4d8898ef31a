import { Readable } from 'node:stream';
import type { AnswerSpool } from './answer-spool.js';
import type { SpooledImage } from './images-response.js';

/** A response up to this size goes out as one Buffer: one write, no stream machinery. */
const ONE_BUFFER_BYTES = 1 << 20;

type Piece = Buffer | { read: () => AsyncIterable<Buffer> };

/**
 * The body of an images response built by buildImagesResponse: its JSON scaffolding and Google's
 * base64 as it was kept. An image held in memory goes out as slices of the Buffers read from
 * Google (no copy); one in a spool file is read back in order as the client takes it. A small
 * response (the common tiny answer) is joined into one Buffer instead of a stream.
 */
export function imagesResponseBody(chunks: ReadonlyArray<Buffer | SpooledImage>, spoolOf: (result: number) => AnswerSpool): Buffer | Readable {
  const pieces: Piece[] = [];
  let inMemoryBytes = 0;
  let allInMemory = true;
  for (const chunk of chunks) {
    if (Buffer.isBuffer(chunk)) {
      pieces.push(chunk);
      inMemoryBytes += chunk.length;
      continue;
    }
    const spool = spoolOf(chunk.result);
    const ranges = chunk.image.ranges ?? [];
    if (spool.inMemory && !chunk.image.escaped) {
      for (const [start, end] of ranges) {
        for (const slice of spool.memorySlices(start, end)) {
          pieces.push(slice);
          inMemoryBytes += slice.length;
        }
      }
      continue;
    }
    allInMemory = false;
    pieces.push({ read: () => spool.read(ranges, chunk.image.escaped) });
  }
  if (allInMemory && inMemoryBytes <= ONE_BUFFER_BYTES) return Buffer.concat(pieces as Buffer[], inMemoryBytes);
  return new PiecesStream(pieces);
}

/** A body of Buffers and spooled pieces: one Buffer when it is all in memory and small, else a stream. */
export function piecesBody(pieces: ReadonlyArray<Buffer | { read: () => AsyncIterable<Buffer> }>): Buffer | Readable {
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
