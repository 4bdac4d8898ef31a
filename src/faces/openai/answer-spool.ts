import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { unescapeJsonString, type ByteRange } from '../../gemini/json-tokenizer.js';

export interface SpoolOptions {
  /** Answers up to this size stay in memory; a larger one moves to a temp file as it arrives. */
  spillAtBytes: number;
  /** Folder for spool files (default: the OS temp folder). */
  dir?: string;
  /** Opens the spool file; tests pass one that fails like a full disk. */
  createFile?: (path: string) => Writable;
}

/** The answer ended before it was complete: Google broke off, or the call was aborted. */
export class SpoolSourceError extends Error {
  override readonly name = 'SpoolSourceError';
}

/** The gateway's own disk failed (ENOSPC, EACCES, EIO): the gateway's fault, not Google's. */
export class SpoolDiskError extends Error {
  override readonly name = 'SpoolDiskError';
}

/** The spool was disposed (the client left) while it was still being filled. */
export class SpoolDisposedError extends Error {
  override readonly name = 'SpoolDisposedError';
}

/**
 * Keeps one upstream answer until the OpenAI response is written. The OpenAI face cannot stream
 * Google's answer through: it must see the whole answer (which images are final, did it fail)
 * before it chooses its status. Holding 64 concurrent 4K answers (~20 MB each) in memory would
 * need over 1.3 GB, so large answers go to a temp file as they arrive (the OS page cache, not
 * the process heap, holds them) and images are read back by byte range when the response is
 * written. Small answers stay in memory: the file costs more than it saves there.
 *
 * Every stream it creates has an error path: the file's errors are always listened to, a
 * failed or disposed spool destroys its file and waits for it to close before the folder is
 * removed, and the folder is removed whatever happened (dispose is safe at any moment, also
 * while consume is still running).
 */
export class AnswerSpool {
  readonly #opts: SpoolOptions;
  #chunks: Buffer[] = [];
  #chunkStarts: number[] = [];
  #bytes = 0;
  #file: Writable | undefined;
  /** Settles when the file is closed (after end or destroy); its error, if any, is kept. */
  #fileClosed: Promise<void> | undefined;
  #fileError: Error | undefined;
  #dir: string | undefined;
  #path: string | undefined;
  #disposed = false;
  #disposing: Promise<void> | undefined;

  constructor(opts: SpoolOptions) {
    this.#opts = opts;
  }

  /**
   * Reads `body` to its end, keeping every byte; backpressure from the file slows the body.
   * Rejects with SpoolSourceError (the body failed), SpoolDiskError (the file failed) or
   * SpoolDisposedError; the body is destroyed on any failure.
   */
  async consume(body: Readable): Promise<void> {
    try {
      for await (const chunk of body) {
        if (this.#disposed) throw new SpoolDisposedError('spool disposed while it was being filled');
        const buf = chunk as Buffer;
        if (this.#file) {
          await this.#write(buf);
        } else {
          this.#chunkStarts.push(this.#bytes);
          this.#chunks.push(buf);
          if (this.#bytes + buf.length > this.#opts.spillAtBytes) await this.#spill();
        }
        this.#bytes += buf.length;
      }
      if (this.#disposed) throw new SpoolDisposedError('spool disposed while it was being filled');
      if (this.#file) {
        this.#file.end();
        await this.#fileClosed;
        if (this.#fileError) throw this.#fileError;
      }
    } catch (e) {
      body.destroy();
      await this.#closeFile();
      // Disposed first: a write cut short by dispose() is the client leaving, not the disk failing.
      if (this.#disposed) throw new SpoolDisposedError('spool disposed while it was being filled');
      if (e instanceof SpoolDiskError || e instanceof SpoolDisposedError) throw e;
      throw new SpoolSourceError((e as Error)?.message ?? String(e), { cause: e });
    }
  }

  async #spill(): Promise<void> {
    try {
      this.#dir = await mkdtemp(join(this.#opts.dir ?? tmpdir(), 'nanogate-spool-'));
    } catch (e) {
      throw new SpoolDiskError(`cannot create a spool folder: ${(e as Error).message}`, { cause: e });
    }
    if (this.#disposed) {
      // Disposed while the folder was being made: the folder is ours to remove.
      await rm(this.#dir, { recursive: true, force: true }).catch(() => {});
      this.#dir = undefined;
      throw new SpoolDisposedError('spool disposed while it was being filled');
    }
    this.#path = join(this.#dir, 'answer');
    const file = (this.#opts.createFile ?? ((path: string) => createWriteStream(path, { highWaterMark: 1 << 20 })))(this.#path);
    this.#file = file;
    this.#fileClosed = new Promise<void>((resolve) => {
      file.on('error', (e: NodeJS.ErrnoException) => {
        // Writes pending when dispose() destroyed the file fail with ERR_STREAM_DESTROYED: no disk fault.
        if (this.#disposed || e.code === 'ERR_STREAM_DESTROYED') return;
        this.#fileError ??= new SpoolDiskError(`cannot write the spool file: ${e.message}`, { cause: e });
      });
      file.once('close', () => resolve());
    });
    const held = this.#chunks;
    this.#chunks = [];
    this.#chunkStarts = [];
    for (const chunk of held) await this.#write(chunk);
  }

  /** One write, waiting for drain when the file is behind; a file error ends the wait. */
  async #write(chunk: Buffer): Promise<void> {
    const file = this.#file!;
    if (this.#fileError) throw this.#fileError;
    if (file.destroyed) throw new SpoolDisposedError('spool disposed while it was being filled');
    if (file.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        file.off('drain', done);
        file.off('close', done);
        resolve();
      };
      file.on('drain', done);
      file.on('close', done);
    });
    if (this.#fileError) throw this.#fileError;
    if (file.destroyed && !file.writableFinished) throw new SpoolDisposedError('spool disposed while it was being filled');
  }

  /** Destroys the file (pending writes are dropped) and waits until it is closed. */
  async #closeFile(): Promise<void> {
    if (!this.#file) return;
    if (!this.#file.destroyed) this.#file.destroy();
    await this.#fileClosed;
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
      if (this.#disposed) throw new SpoolDisposedError('spool disposed while it was being read');
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

  /**
   * Frees the memory, cancels pending writes, waits for the file to close, removes the folder.
   * Safe to call more than once and at any moment; never rejects.
   */
  dispose(): Promise<void> {
    this.#disposing ??= (async () => {
      this.#disposed = true;
      this.#chunks = [];
      this.#chunkStarts = [];
      await this.#closeFile();
      const dir = this.#dir;
      this.#dir = undefined;
      this.#path = undefined;
      if (dir) await rm(dir, { recursive: true, force: true }).catch(() => {});
    })();
    return this.#disposing;
  }
}
