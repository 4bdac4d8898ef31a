import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { unescapeJsonString, type ByteRange } from '../../gemini/json-tokenizer.js';

export interface SpoolOptions {
  /** Answers up to this size stay in memory; a larger one moves to a temp file as it arrives. */
  spillAtBytes: number;
  /** Folder for spool files (default: the OS temp folder). */
  dir?: string;
}

/**
 * Keeps one upstream answer until the OpenAI response is written. The OpenAI face cannot stream
 * Google's answer through: it must see the whole answer (which images are final, did it fail)
 * before it chooses its status. Holding 64 concurrent 4K answers (~20 MB each) in memory would
 * need over 1.3 GB, so large answers go to a temp file as they arrive (the OS page cache, not
 * the process heap, holds them) and images are read back by byte range when the response is
 * written. Small answers stay in memory: the file costs more than it saves there.
 */
export class AnswerSpool {
  readonly #opts: SpoolOptions;
  #chunks: Buffer[] = [];
  #chunkStarts: number[] = [];
  #bytes = 0;
  #file: WriteStream | undefined;
  #dir: string | undefined;
  #path: string | undefined;

  constructor(opts: SpoolOptions) {
    this.#opts = opts;
  }

  /** Reads `body` to its end, keeping every byte; backpressure from the file slows the body. */
  async consume(body: Readable): Promise<void> {
    const spill = async () => {
      this.#dir = await mkdtemp(join(this.#opts.dir ?? tmpdir(), 'nanogate-spool-'));
      this.#path = join(this.#dir, 'answer');
      this.#file = createWriteStream(this.#path, { highWaterMark: 1 << 20 });
      for (const chunk of this.#chunks) this.#file.write(chunk);
      this.#chunks = [];
      this.#chunkStarts = [];
    };
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      if (this.#file) {
        if (!this.#file.write(buf)) await new Promise<void>((resolve) => this.#file!.once('drain', resolve));
      } else {
        this.#chunkStarts.push(this.#bytes);
        this.#chunks.push(buf);
        if (this.#bytes + buf.length > this.#opts.spillAtBytes) await spill();
      }
      this.#bytes += buf.length;
    }
    if (this.#file) {
      this.#file.end();
      await finished(this.#file);
    }
  }

  get spilled(): boolean {
    return this.#file !== undefined;
  }

  /** The bytes at `ranges`, in order; with `escaped`, JSON escapes decoded (read whole: rare). */
  async *read(ranges: readonly ByteRange[], escaped = false): AsyncGenerator<Buffer> {
    if (escaped) {
      const parts: Buffer[] = [];
      for await (const part of this.read(ranges)) parts.push(part);
      yield unescapeJsonString(Buffer.concat(parts));
      return;
    }
    for (const [start, end] of ranges) {
      if (end <= start) continue;
      if (this.#path) {
        for await (const chunk of createReadStream(this.#path, { start, end: end - 1, highWaterMark: 1 << 20 })) yield chunk as Buffer;
      } else {
        yield* this.#fromMemory(start, end);
      }
    }
  }

  *#fromMemory(start: number, end: number): Generator<Buffer> {
    for (let i = 0; i < this.#chunks.length; i++) {
      const chunkStart = this.#chunkStarts[i]!;
      const chunk = this.#chunks[i]!;
      const chunkEnd = chunkStart + chunk.length;
      if (chunkEnd <= start) continue;
      if (chunkStart >= end) break;
      yield chunk.subarray(Math.max(0, start - chunkStart), Math.min(chunk.length, end - chunkStart));
    }
  }

  /** Frees the memory and removes the file. Safe to call more than once. */
  async dispose(): Promise<void> {
    this.#chunks = [];
    this.#chunkStarts = [];
    this.#file?.destroy();
    const dir = this.#dir;
    this.#dir = undefined;
    this.#path = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
