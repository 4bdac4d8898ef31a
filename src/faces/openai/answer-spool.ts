import { close, open, read, unlink, writev } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { randomHex } from '../../random/pool.js';
import { unescapeJsonString, type ByteRange } from '../../gemini/json-tokenizer.js';
import type { AnswerBody } from '../../upstream/answer-body.js';

/**
 * The bytes of answers every spool of the process holds in memory, against one limit. Google's
 * answers to this face wait whole until the response is written (AnswerSpool); held in memory
 * they cost no copy and no system call, so they stay there while the process-wide total allows,
 * and the answer that would cross it moves to a file as it arrives. One limit for the process,
 * not one per answer: 8 concurrent 4K answers (~160 MB) and 64 of them (~1.3 GB) both end up
 * holding at most `limitBytes` in the heap, and small answers never touch the disk.
 */
export class SpoolMemory {
  readonly limitBytes: number;
  #held = 0;

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  /** Takes `bytes` of the limit if they fit; false leaves the total as it was. */
  tryHold(bytes: number): boolean {
    if (this.#held + bytes > this.limitBytes) return false;
    this.#held += bytes;
    return true;
  }

  /** Takes `bytes` whatever the total (a small answer's share). */
  force(bytes: number): void {
    this.#held += bytes;
  }

  release(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes);
  }

  get heldBytes(): number {
    return this.#held;
  }
}

/** Opens a new spool file for reading and writing; tests pass one that fails like a full disk. */
export type SpoolFileOpener = (path: string) => Promise<number>;

export interface SpoolOptions {
  memory: SpoolMemory;
  /** Folder for spool files (default: the OS temp folder). */
  dir?: string;
  openFile?: SpoolFileOpener;
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

/** Writes queued for the file beyond this pause Google's answer until the disk catches up. */
const FILE_BACKLOG_BYTES = 256 << 10;
/** Size of each read when an image goes from the file to the client. */
const FILE_READ_BYTES = 256 << 10;
/** Answers up to this size stay in memory whatever the limit. */
const SMALL_ANSWER_BYTES = 256 << 10;
/** iovecs per writev (Linux's IOV_MAX is 1024). */
const MAX_IOVECS = 512;

const openReadWrite: SpoolFileOpener = (path) =>
  new Promise((resolve, reject) => open(path, 'wx+', 0o600, (err, fd) => (err ? reject(err) : resolve(fd))));

/**
 * Keeps one upstream answer until the OpenAI response is written. The OpenAI face cannot stream
 * Google's answer through: it must see the whole answer (which images are final, did it fail)
 * before it chooses its status. Answers are kept as the very Buffers undici read from Google's
 * socket, and images go out as slices of them: no copy. Past the process-wide SpoolMemory limit
 * an answer moves to a file (the OS page cache, not the heap, holds it) and its images are read
 * back by byte range when the response is written.
 *
 * The file is unlinked as soon as it is open: it has no name, so nothing is left on disk
 * whatever happens to the process, and closing it frees it. Writes are queued and gathered into
 * one writev per turn; a queue over FILE_BACKLOG_BYTES pauses Google's answer.
 *
 * Every failure has a path: a disk error fails consume with SpoolDiskError and destroys the
 * body; dispose is safe at any moment (also while consume runs) and closes the file once no
 * read or write is in flight on it.
 */
export class AnswerSpool {
  readonly #opts: SpoolOptions;
  #chunks: Buffer[] = [];
  #chunkStarts: number[] = [];
  /** Bytes of #chunks taken from the SpoolMemory limit. */
  #heldBytes = 0;
  #bytes = 0;
  #fd: number | undefined;
  #opening: Promise<void> | undefined;
  /** Chunks waiting to be written at #writtenTo. */
  #queue: Buffer[] = [];
  #queueBytes = 0;
  #writtenTo = 0;
  #writing = false;
  #fileError: SpoolDiskError | undefined;
  /** Reads and writes in flight on #fd: it is closed only when none is. */
  #busy = 0;
  #disposed = false;
  #disposing: Promise<void> | undefined;
  #afterIo: Array<() => void> = [];

  constructor(opts: SpoolOptions) {
    this.#opts = opts;
  }

  /**
   * Reads `body` to its end, keeping every byte. Rejects with SpoolSourceError (the body
   * failed), SpoolDiskError (the file failed) or SpoolDisposedError; the body is destroyed on
   * any failure of the spool's own.
   */
  consume(body: AnswerBody | Readable, tap?: (chunk: Buffer) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let ended = false;
      let paused = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        if (this.#disposed) err = new SpoolDisposedError('spool disposed while it was being filled');
        stop(err);
        reject(err);
      };
      const finish = () => {
        if (settled || !ended) return;
        if (this.#fileError) return fail(this.#fileError);
        if (this.#disposed) return fail(new SpoolDisposedError('spool disposed while it was being filled'));
        if (this.#opening || this.#writing || this.#queueBytes > 0) return; // called again when the file is done
        settled = true;
        resolve();
      };
      const progress = () => {
        if (this.#fileError) return fail(this.#fileError);
        if (paused && !this.#opening && this.#queueBytes < FILE_BACKLOG_BYTES) {
          paused = false;
          resume();
        }
        finish();
      };
      const data = (chunk: Buffer): boolean => {
        if (settled) return false;
        tap?.(chunk);
        if (this.#disposed) {
          fail(new SpoolDisposedError('spool disposed while it was being filled'));
          return false;
        }
        this.#take(chunk, progress);
        if (this.#fileError) {
          fail(this.#fileError);
          return false;
        }
        if (this.#opening || this.#queueBytes >= FILE_BACKLOG_BYTES) {
          paused = true;
          return false;
        }
        return true;
      };
      const end = () => {
        ended = true;
        finish();
      };
      const error = (err: Error) => fail(new SpoolSourceError(err?.message ?? String(err), { cause: err }));
      let stop: (err: Error) => void;
      let resume: () => void;
      if (body instanceof Readable) {
        stop = (err) => body.destroy(err instanceof SpoolSourceError ? undefined : err);
        resume = () => body.resume();
        body.on('data', (chunk: Buffer) => {
          if (!data(chunk)) body.pause();
        });
        body.once('end', end);
        body.on('error', error);
        body.once('close', () => {
          if (!ended) error(new Error('the answer closed before it ended'));
        });
        body.resume();
      } else {
        stop = (err) => body.destroy(err);
        resume = () => body.resume();
        body.attach({ data, end, error });
      }
    });
  }

  /** Keeps one chunk: in memory while the process-wide limit allows, else in the file. */
  #take(chunk: Buffer, progress: () => void): void {
    const at = this.#bytes;
    this.#bytes += chunk.length;
    if (this.#fd === undefined && !this.#opening) {
      // A small answer never goes to disk: a file would cost more system calls than it saves.
      const small = this.#bytes <= SMALL_ANSWER_BYTES;
      if (small) this.#opts.memory.force(chunk.length);
      if (small || this.#opts.memory.tryHold(chunk.length)) {
        this.#heldBytes += chunk.length;
        this.#chunkStarts.push(at);
        this.#chunks.push(chunk);
        return;
      }
      // Over the limit: everything held so far moves to the file with this chunk.
      this.#queue = this.#chunks;
      this.#queueBytes = at;
      this.#chunks = [];
      this.#chunkStarts = [];
      this.#opts.memory.release(this.#heldBytes);
      this.#heldBytes = 0;
      this.#opening = this.#openFile().then(() => {
        this.#opening = undefined;
        this.#flush(progress);
        progress();
      });
    }
    this.#queue.push(chunk);
    this.#queueBytes += chunk.length;
    if (!this.#opening) this.#flush(progress);
  }

  async #openFile(): Promise<void> {
    const path = join(this.#opts.dir ?? tmpdir(), `nanogate-spool-${process.pid}-${randomHex(8)}`);
    let fd: number;
    try {
      fd = await (this.#opts.openFile ?? openReadWrite)(path);
    } catch (e) {
      this.#fileError ??= new SpoolDiskError(`cannot create a spool file: ${(e as Error).message}`, { cause: e });
      return;
    }
    // Nameless from here on: the open descriptor keeps the data, nothing can be left behind.
    await new Promise<void>((resolve) => unlink(path, () => resolve()));
    if (this.#disposed) {
      close(fd, () => {});
      return;
    }
    this.#fd = fd;
  }

  /** One writev of everything queued, then the next; a failure is kept for consume to report. */
  #flush(progress: () => void): void {
    if (this.#writing || this.#fd === undefined || this.#disposed || this.#fileError || this.#queue.length === 0) return;
    const batch = this.#queue.length > MAX_IOVECS ? this.#queue.splice(0, MAX_IOVECS) : this.#queue.splice(0);
    const size = batch.reduce((n, b) => n + b.length, 0);
    const at = this.#writtenTo;
    this.#writing = true;
    this.#busy++;
    writev(this.#fd, batch, at, (err, written) => {
      this.#busy--;
      this.#writing = false;
      if (this.#disposed) {
        this.#ioDone();
        progress();
        return;
      }
      if (!err && written < size) {
        // A short write (rare on regular files): the rest goes first in the next writev.
        let skip = written;
        const rest: Buffer[] = [];
        for (const b of batch) {
          if (skip >= b.length) skip -= b.length;
          else {
            rest.push(skip > 0 ? b.subarray(skip) : b);
            skip = 0;
          }
        }
        this.#queue.unshift(...rest);
      }
      if (err && !this.#disposed) this.#fileError ??= new SpoolDiskError(`cannot write the spool file: ${err.message}`, { cause: err });
      this.#writtenTo = at + (err ? 0 : written);
      this.#queueBytes -= err ? 0 : written;
      this.#ioDone();
      this.#flush(progress);
      progress();
    });
  }

  #ioDone(): void {
    if (this.#busy > 0) return;
    const waiting = this.#afterIo;
    this.#afterIo = [];
    for (const f of waiting) f();
  }

  get spilled(): boolean {
    return this.#fd !== undefined || this.#opening !== undefined;
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
      if (this.#fd === undefined) {
        if (this.#disposed) throw new SpoolDisposedError('spool disposed while it was being read');
        yield* this.memorySlices(start, end);
        continue;
      }
      for (let at = start; at < end; ) {
        const chunk = await this.#readFile(at, Math.min(FILE_READ_BYTES, end - at));
        at += chunk.length;
        yield chunk;
      }
    }
  }

  /** Whether the answer is held in memory: its ranges can be sliced synchronously. */
  get inMemory(): boolean {
    return !this.spilled && !this.#disposed;
  }

  /** The held chunks' slices covering [start, end): only while the answer is in memory. */
  *memorySlices(start: number, end: number): Generator<Buffer> {
    for (let i = 0; i < this.#chunks.length; i++) {
      const chunkStart = this.#chunkStarts[i]!;
      const chunk = this.#chunks[i]!;
      const chunkEnd = chunkStart + chunk.length;
      if (chunkEnd <= start) continue;
      if (chunkStart >= end) break;
      yield chunk.subarray(Math.max(0, start - chunkStart), Math.min(chunk.length, end - chunkStart));
    }
  }

  #readFile(position: number, length: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      if (this.#disposed || this.#fd === undefined) return reject(new SpoolDisposedError('spool disposed while it was being read'));
      // A fresh buffer per read: the socket may still hold the previous one.
      const buffer = Buffer.allocUnsafeSlow(length);
      this.#busy++;
      read(this.#fd, buffer, 0, length, position, (err, bytesRead) => {
        this.#busy--;
        this.#ioDone();
        if (err) return reject(new SpoolDiskError(`cannot read the spool file: ${err.message}`, { cause: err }));
        if (bytesRead === 0) return reject(new SpoolDiskError('the spool file ended before the range asked for'));
        resolve(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
      });
    });
  }

  /**
   * Frees the memory (and its share of the limit), drops pending writes, closes the file once
   * nothing is in flight on it. Safe to call more than once and at any moment; never rejects.
   */
  dispose(): Promise<void> {
    this.#disposing ??= (async () => {
      this.#disposed = true;
      this.#opts.memory.release(this.#heldBytes);
      this.#heldBytes = 0;
      this.#chunks = [];
      this.#chunkStarts = [];
      this.#queue = [];
      this.#queueBytes = 0;
      await this.#opening;
      if (this.#busy > 0) await new Promise<void>((resolve) => this.#afterIo.push(resolve));
      const fd = this.#fd;
      this.#fd = undefined;
      if (fd !== undefined) await new Promise<void>((resolve) => close(fd, () => resolve()));
    })();
    return this.#disposing;
  }
}

/** What a request's spools belong to: its response, whose 'close' disposes them. */
export interface SpoolOwner {
  readonly closed: boolean;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * The spools of one OpenAI face: the one memory limit they share, and every spool not yet
 * disposed, so shutdown can close their files. A request's spools are disposed when its
 * response closes, whatever happened.
 */
export class AnswerSpools {
  readonly memory: SpoolMemory;
  readonly #live = new Set<AnswerSpool>();
  readonly #byResponse = new WeakMap<SpoolOwner, Set<AnswerSpool>>();
  readonly #dir: string | undefined;

  constructor(memoryBytes: number, dir?: string) {
    this.memory = new SpoolMemory(memoryBytes);
    this.#dir = dir;
  }

  /**
   * A new spool, disposed when the response closes (at once if it has closed already: the client
   * left). One 'close' listener per response, however many spools its n calls open.
   */
  open(response: SpoolOwner): AnswerSpool {
    const spool = new AnswerSpool({ memory: this.memory, ...(this.#dir !== undefined ? { dir: this.#dir } : {}) });
    this.#live.add(spool);
    if (response.closed) {
      void this.release(spool);
      return spool;
    }
    let mine = this.#byResponse.get(response);
    if (!mine) {
      const spools = new Set<AnswerSpool>();
      mine = spools;
      this.#byResponse.set(response, spools);
      response.once('close', () => {
        this.#byResponse.delete(response);
        for (const s of spools) void this.release(s);
      });
    }
    mine.add(spool);
    return spool;
  }

  async release(spool: AnswerSpool): Promise<void> {
    await spool.dispose();
    this.#live.delete(spool);
  }

  async disposeAll(): Promise<void> {
    await Promise.allSettled([...this.#live].map((s) => this.release(s)));
  }
}
