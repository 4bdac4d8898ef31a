import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** Where the body of a successful answer goes: the face's writer (a client response, a spool). */
export interface AnswerConsumer {
  /** One chunk. Return false to pause the upstream read until the body's resume() is called. */
  data(chunk: Buffer): boolean;
  end(): void;
  /** The answer broke off: Google's connection failed, stalled, or the body was destroyed. */
  error(err: Error): void;
}

/** Sees every chunk as it arrives, before the consumer does (the usage scanner). */
export interface AnswerObserver {
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
}

/** Chunks that arrived before a consumer attached are held up to this much, then the read pauses. */
const EARLY_BYTES_LIMIT = 1 << 20;

/**
 * The body of a successful answer from Google as it arrives, fed straight from undici's dispatch
 * handler to one consumer. No Readable in between (no stream state machine, no nextTick per
 * event, no AbortController), so a small answer's chunks and its end reach the client's socket
 * in the same tick and leave in one write. Backpressure goes through undici's controller:
 * a consumer that returns false pauses the socket read until it calls resume().
 */
export class AnswerBody {
  readonly #controller: Dispatcher.DispatchController;
  #consumer: AnswerConsumer | undefined;
  #observer: AnswerObserver | undefined;
  #early: Buffer[] = [];
  #earlyBytes = 0;
  #state: 'open' | 'ended' | 'failed' = 'open';
  #failure: Error | undefined;

  constructor(controller: Dispatcher.DispatchController) {
    this.#controller = controller;
  }

  /**
   * One observer. Chunks that arrived before it was set (a small answer often arrives whole
   * with its headers) are replayed to it first, so it sees every byte.
   */
  observe(observer: AnswerObserver): void {
    if (this.#observer) throw new Error('AnswerBody: an observer is already set');
    if (this.#consumer) throw new Error('AnswerBody: observe before a consumer attaches');
    this.#observer = observer;
    for (const chunk of this.#early) observer.data(chunk);
    if (this.#state === 'ended') observer.end();
    else if (this.#state === 'failed') observer.error(this.#failure!);
  }

  /** Attaches the one consumer; chunks that came before it are handed over at once, in order. */
  attach(consumer: AnswerConsumer): void {
    if (this.#consumer) throw new Error('AnswerBody: a consumer is already attached');
    this.#consumer = consumer;
    const early = this.#early;
    this.#early = [];
    this.#earlyBytes = 0;
    let wantsMore = true;
    for (const chunk of early) wantsMore = consumer.data(chunk);
    if (this.#state === 'ended') consumer.end();
    else if (this.#state === 'failed') consumer.error(this.#failure!);
    else if (wantsMore) this.#controller.resume();
    else this.#controller.pause();
  }

  /** The consumer can take more after returning false. */
  resume(): void {
    if (this.#state === 'open') this.#controller.resume();
  }

  /** Stops reading and aborts the upstream call (the client went away, the consumer failed). */
  destroy(reason?: Error): void {
    // The Error is made only when there is a call to abort: its stack trace is not free.
    if (this.#state === 'open') this.#controller.abort(reason ?? new Error('The answer body was destroyed before it ended.'));
  }

  /** For consumers that want a stream (the OpenAI face's spool): a Readable over this body. */
  toReadable(): Readable {
    const readable = new Readable({
      read: () => this.resume(),
      destroy: (err, callback) => {
        this.destroy(err ?? undefined);
        callback(err);
      },
    });
    this.attach({
      data: (chunk) => readable.push(chunk),
      end: () => readable.push(null),
      error: (err) => readable.destroy(err),
    });
    return readable;
  }

  // ---- fed by the upstream handler ----

  /** @internal */
  push(chunk: Buffer): void {
    this.#observer?.data(chunk);
    if (this.#consumer) {
      if (!this.#consumer.data(chunk)) this.#controller.pause();
      return;
    }
    this.#early.push(chunk);
    this.#earlyBytes += chunk.length;
    if (this.#earlyBytes >= EARLY_BYTES_LIMIT) this.#controller.pause();
  }

  /** @internal */
  finish(): void {
    if (this.#state !== 'open') return;
    this.#state = 'ended';
    this.#observer?.end();
    this.#consumer?.end();
  }

  /** @internal */
  fail(err: Error): void {
    if (this.#state !== 'open') return;
    this.#state = 'failed';
    this.#failure = err;
    this.#observer?.error(err);
    this.#consumer?.error(err);
  }
}
