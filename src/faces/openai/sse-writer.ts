import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { wantsTrailers } from '../client-connection.js';

/**
 * Server-sent events as OpenAI streams them (chat completion chunks, Responses events, image
 * generation events): `event: <type>` (when named) and one `data: <json>` line per event, a
 * blank line after each. The reply is hijacked once the first upstream call is under way, so
 * errors before that (a refusal, Google's error answer) are still ordinary JSON errors with
 * their status; after it, the route reports failures as events. Image base64 is written as the
 * Buffers it arrived in, never joined into a string.
 *
 * What the answer cost is known only at its end: it is in the last event's usage, and in an
 * `x-nanogate-cost-usd` trailer for clients that send `TE: trailers`.
 */
export class SseWriter {
  readonly #request: FastifyRequest;
  readonly #reply: FastifyReply;
  readonly #trailers: boolean;
  #open = false;
  #ended = false;

  constructor(request: FastifyRequest, reply: FastifyReply) {
    this.#request = request;
    this.#reply = reply;
    this.#trailers = wantsTrailers(request);
  }

  get started(): boolean {
    return this.#open;
  }

  /** The client has gone: nothing more can be written. */
  get gone(): boolean {
    return this.#reply.raw.destroyed;
  }

  /** Sends the status line and headers (the reply's own, then `headers`). */
  open(headers: Record<string, string> = {}): void {
    if (this.#open) return;
    this.#open = true;
    const all = { ...(this.#reply.getHeaders() as OutgoingHttpHeaders), ...headers } as OutgoingHttpHeaders;
    all['content-type'] = 'text/event-stream; charset=utf-8';
    all['cache-control'] = 'no-cache';
    // nginx and similar proxies would otherwise hold the events back.
    all['x-accel-buffering'] = 'no';
    delete all['content-length'];
    if (this.#trailers) all['trailer'] = 'x-nanogate-cost-usd';
    this.#reply.hijack();
    this.#reply.raw.writeHead(200, all);
  }

  /** One event whose data is `pieces` concatenated (they must form one line of JSON). */
  write(type: string | undefined, pieces: ReadonlyArray<string | Buffer>): void {
    if (!this.#open) this.open();
    const res = this.#reply.raw;
    if (this.#ended || res.destroyed) return;
    res.write(type === undefined ? 'data: ' : `event: ${type}\ndata: `);
    for (const piece of pieces) res.write(piece);
    res.write('\n\n');
  }

  json(type: string | undefined, value: unknown): void {
    this.write(type, [JSON.stringify(value)]);
  }

  /** A bare `data: <text>` line (chat completions' `[DONE]`). */
  raw(text: string): void {
    this.write(undefined, [text]);
  }

  end(costUsd?: string): void {
    if (!this.#open) this.open();
    if (this.#ended) return;
    this.#ended = true;
    const res = this.#reply.raw;
    if (res.destroyed) return;
    if (this.#trailers && costUsd !== undefined) res.addTrailers({ 'x-nanogate-cost-usd': costUsd });
    res.end();
    this.#request.log.debug('event stream ended');
  }
}
