import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { GatewayError } from '../errors/gateway-error.js';
import { parseGoogleError, retryDelayFromGoogle } from '../gemini/errors.js';
import { retryDelayMs, type AttemptOutcome } from './retry-policy.js';

export interface UpstreamOptions {
  baseUrl: string;
  /** Per attempt: time to response headers, and longest silence between body chunks. */
  timeoutMs: number;
  retries: number;
  /** Tests inject a dispatcher; production gets one undici Pool for the origin. */
  dispatcher?: Dispatcher;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Cap on how much of an error answer is read (they are small envelopes). */
  maxErrorBodyBytes?: number;
  connections?: number;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  /** Path and query, starting with '/': appended to the base URL's path. */
  path: string;
  /** The project's Google key: sent in x-goog-api-key, never in the URL. */
  apiKey: string;
  body?: Buffer;
  signal?: AbortSignal;
}

export type UpstreamResponse =
  | { ok: true; status: number; headers: IncomingHttpHeaders; body: Readable; attempts: number }
  | { ok: false; status: number; headers: IncomingHttpHeaders; body: Buffer; attempts: number; retryAfterMs?: number };

const defaultSleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }).then(() => undefined);

function isTimeout(e: unknown): boolean {
  return e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError || e instanceof undiciErrors.ConnectTimeoutError;
}

function isAbort(e: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (e instanceof Error && (e.name === 'AbortError' || e instanceof undiciErrors.RequestAbortedError));
}

async function readCapped(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (size < maxBytes) chunks.push(buf.subarray(0, maxBytes - size));
    size += buf.length;
  }
  return Buffer.concat(chunks);
}

/**
 * The one way to reach Google: a pooled undici client for the configured origin, per-attempt
 * timeouts, and the retry policy. Bodies of successful answers come back as streams, never
 * read here; error answers are read whole (they are small) so callers can parse them.
 */
export class UpstreamClient {
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #opts: UpstreamOptions;
  readonly #sleep: NonNullable<UpstreamOptions['sleep']>;
  readonly #random: () => number;

  constructor(opts: UpstreamOptions) {
    const url = new URL(opts.baseUrl);
    this.#origin = url.origin;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#opts = opts;
    this.#ownsDispatcher = !opts.dispatcher;
    this.#dispatcher =
      opts.dispatcher ??
      new Pool(this.#origin, {
        connections: opts.connections ?? 256,
        keepAliveTimeout: 30_000,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      });
    this.#sleep = opts.sleep ?? defaultSleep;
    this.#random = opts.random ?? Math.random;
  }

  async send(req: UpstreamRequest): Promise<UpstreamResponse> {
    for (let attempt = 0; ; attempt++) {
      let outcome: AttemptOutcome;
      let failure: GatewayError;
      try {
        const res = await this.#dispatcher.request({
          origin: this.#origin,
          method: req.method,
          path: this.#basePath + req.path,
          headers: {
            'x-goog-api-key': req.apiKey,
            ...(req.body ? { 'content-type': 'application/json' } : {}),
            'user-agent': 'nanogate',
          },
          body: req.body ?? null,
          signal: req.signal,
          headersTimeout: this.#opts.timeoutMs,
          bodyTimeout: this.#opts.timeoutMs,
        });
        if (res.statusCode >= 200 && res.statusCode < 300) {
          return { ok: true, status: res.statusCode, headers: res.headers, body: res.body, attempts: attempt + 1 };
        }
        const body = await readCapped(res.body, this.#opts.maxErrorBodyBytes ?? 1 << 20);
        const retryAfterMs = retryDelayFromGoogle(parseGoogleError(body), res.headers['retry-after']);
        const answer: UpstreamResponse = { ok: false, status: res.statusCode, headers: res.headers, body, attempts: attempt + 1, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
        const wait = retryDelayMs(this.#opts, attempt, { kind: 'status', status: res.statusCode, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }, this.#random());
        if (wait === undefined) return answer;
        await this.#sleep(wait, req.signal);
        continue;
      } catch (e) {
        if (isAbort(e, req.signal)) throw new GatewayError('UPSTREAM_UNAVAILABLE', 'The client closed the request before Google answered.');
        if (isTimeout(e)) {
          outcome = { kind: 'timeout' };
          failure = new GatewayError('UPSTREAM_TIMEOUT', `Google did not answer within ${this.#opts.timeoutMs} ms.`);
        } else {
          outcome = { kind: 'connection-error' };
          const code = (e as { code?: string }).code;
          failure = new GatewayError('UPSTREAM_UNAVAILABLE', `Could not reach Google${code ? ` (${code})` : ''}.`);
        }
      }
      const wait = retryDelayMs(this.#opts, attempt, outcome, this.#random());
      if (wait === undefined) throw failure;
      try {
        await this.#sleep(wait, req.signal);
      } catch {
        throw new GatewayError('UPSTREAM_UNAVAILABLE', 'The client closed the request before Google answered.');
      }
    }
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}
