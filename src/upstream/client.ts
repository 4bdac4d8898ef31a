import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { GatewayError } from '../errors/gateway-error.js';
import { parseGoogleError, retryDelayFromGoogle } from '../gemini/errors.js';
import { AnswerBody } from './answer-body.js';
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

/**
 * How a call proves it is the project's: a Gemini API key (in x-goog-api-key, never in the URL),
 * or for a Vertex AI project an OAuth access token, asked for before each attempt (a retry
 * minutes later gets a token that is still valid) and sent as `Authorization: Bearer`.
 */
export type UpstreamCredential = { apiKey: string; accessToken?: undefined } | { accessToken: () => Promise<string>; apiKey?: undefined };

export type UpstreamRequest = UpstreamRequestFields & UpstreamCredential;

interface UpstreamRequestFields {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path and query, starting with '/': appended to the base URL's path. */
  path: string;
  body?: Buffer;
  /** The body's type when it is not JSON (a file chunk, a multipart upload, #16). */
  contentType?: string;
  /** Protocol headers the call needs besides the key (Google's X-Goog-Upload-*, #16). */
  headers?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
  /**
   * Asked before each retry (not before the first attempt): false means no more attempts, and
   * the last answer (or failure) stands. The relay counts each retry against the quota here.
   */
  beforeRetry?: () => Promise<boolean>;
  /** After each attempt that went out, retries included (what Google counts): its status, or how it failed. */
  onAttempt?: (outcome: AttemptLabel) => void;
}

/** How one attempt ended: Google's HTTP status, or no answer. */
export type AttemptLabel = number | 'timeout' | 'connection_error' | 'aborted';

export type UpstreamResponse =
  | { ok: true; status: number; headers: IncomingHttpHeaders; body: AnswerBody; attempts: number }
  | { ok: false; status: number; headers: IncomingHttpHeaders; body: Buffer; attempts: number; retryAfterMs?: number };

type AttemptResult =
  | { ok: true; status: number; headers: IncomingHttpHeaders; body: AnswerBody }
  | { ok: false; status: number; headers: IncomingHttpHeaders; body: Buffer };

const defaultSleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }).then(() => undefined);

function isTimeout(e: unknown): boolean {
  return e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError || e instanceof undiciErrors.ConnectTimeoutError;
}

function isAbort(e: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (e instanceof Error && (e.name === 'AbortError' || e instanceof undiciErrors.RequestAbortedError));
}

/**
 * One attempt, as an undici dispatch handler: settles at the response's start for a 2xx answer
 * (its body then flows through an AnswerBody), at its end for any other (read whole, capped).
 * The caller's signal aborts the call at any point, before the answer or while its body flows.
 */
class AttemptHandler implements Dispatcher.DispatchHandler {
  readonly #maxErrorBytes: number;
  readonly #signal: AbortSignal | undefined;
  readonly #resolve: (result: AttemptResult) => void;
  readonly #reject: (err: unknown) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #body: AnswerBody | undefined;
  #error: { status: number; headers: IncomingHttpHeaders; chunks: Buffer[]; size: number } | undefined;
  #done = false;

  constructor(maxErrorBytes: number, signal: AbortSignal | undefined, resolve: (result: AttemptResult) => void, reject: (err: unknown) => void) {
    this.#maxErrorBytes = maxErrorBytes;
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal?.addEventListener('abort', this.#onAbort);
  }

  readonly #onAbort = (): void => {
    this.#controller?.abort(new undiciErrors.RequestAbortedError());
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#signal?.aborted) controller.abort(new undiciErrors.RequestAbortedError());
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200) return;
    if (status < 300) {
      this.#body = new AnswerBody(controller);
      this.#resolve({ ok: true, status, headers, body: this.#body });
    } else {
      this.#error = { status, headers, chunks: [], size: 0 };
    }
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#body) return this.#body.push(chunk);
    const e = this.#error;
    if (!e) return;
    if (e.size < this.#maxErrorBytes) e.chunks.push(chunk.subarray(0, this.#maxErrorBytes - e.size));
    e.size += chunk.length;
  }

  onResponseEnd(): void {
    if (!this.#settle()) return;
    if (this.#body) return this.#body.finish();
    const e = this.#error;
    if (e) this.#resolve({ ok: false, status: e.status, headers: e.headers, body: Buffer.concat(e.chunks) });
    else this.#reject(new Error('Google ended the answer before it started.'));
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (!this.#settle()) return;
    if (this.#body) this.#body.fail(err);
    else this.#reject(err);
  }

  /** True the first time: the attempt is over, the signal is let go. */
  #settle(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    return true;
  }
}

/** Headers of a Files or Batch API call (#16); generation calls keep the literal objects of #attempt. */
function protocolHeaders(req: UpstreamRequest, token: string | undefined): Record<string, string> {
  return {
    ...req.headers,
    ...(req.body ? { 'content-type': req.contentType ?? 'application/json' } : {}),
    ...(token !== undefined ? { authorization: `Bearer ${token}` } : { 'x-goog-api-key': req.apiKey! }),
    'user-agent': 'nanogate',
  };
}

/** Headers of a call made with an access token (Vertex AI), the Gemini API key's literals' counterpart. */
function bearerHeaders(req: UpstreamRequest, token: string): Record<string, string> {
  if (req.headers || req.contentType) return protocolHeaders(req, token);
  return req.body ? { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'user-agent': 'nanogate' } : { authorization: `Bearer ${token}`, 'user-agent': 'nanogate' };
}

/** An answer's headers without any whose value holds the token (an echo of it must never reach a tenant). */
function withoutEcho(headers: IncomingHttpHeaders, token: string): IncomingHttpHeaders {
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && (typeof value === 'string' ? value.includes(token) : value.some((v) => v.includes(token)))) delete headers[name];
  }
  return headers;
}

/**
 * The one way to reach Google: a pooled undici client for the configured origin, per-attempt
 * timeouts, and the retry policy. Bodies of successful answers come back as AnswerBody, never
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

  /**
   * A client for another origin (a Vertex AI location's host) with this one's timeouts, retries
   * and waits: a connection pool of its own, or the injected dispatcher, which serves any origin.
   */
  forBaseUrl(baseUrl: string): UpstreamClient {
    const { dispatcher: _own, ...opts } = this.#opts;
    return new UpstreamClient({ ...opts, baseUrl, ...(this.#ownsDispatcher ? {} : { dispatcher: this.#dispatcher }) });
  }

  async send(req: UpstreamRequest): Promise<UpstreamResponse> {
    for (let attempt = 0; ; attempt++) {
      let outcome: AttemptOutcome;
      let failure: GatewayError;
      // Not an attempt: a token that cannot be had fails the call as AccessTokens says (no retry here).
      const token = req.accessToken ? await req.accessToken() : undefined;
      try {
        const res = await this.#attempt(req, token).catch((e: unknown) => {
          req.onAttempt?.(isAbort(e, req.signal) ? 'aborted' : isTimeout(e) ? 'timeout' : 'connection_error');
          throw e;
        });
        if (token !== undefined) withoutEcho(res.headers, token);
        req.onAttempt?.(res.status);
        if (res.ok) return { ...res, attempts: attempt + 1 };
        const retryAfterMs = retryDelayFromGoogle(parseGoogleError(res.body), res.headers['retry-after']);
        const answer: UpstreamResponse = { ...res, attempts: attempt + 1, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
        const wait = retryDelayMs(this.#opts, attempt, { kind: 'status', status: res.status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }, this.#random());
        if (wait === undefined) return answer;
        await this.#sleep(wait, req.signal);
        if (req.beforeRetry && !(await req.beforeRetry())) return answer;
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
      if (req.beforeRetry && !(await req.beforeRetry())) throw failure;
    }
  }

  #attempt(req: UpstreamRequest, token: string | undefined): Promise<AttemptResult> {
    return new Promise<AttemptResult>((resolve, reject) => {
      if (req.signal?.aborted) return reject(new undiciErrors.RequestAbortedError());
      const handler = new AttemptHandler(this.#opts.maxErrorBodyBytes ?? 1 << 20, req.signal, resolve, reject);
      try {
        this.#dispatcher.dispatch(
          {
            origin: this.#origin,
            method: req.method,
            path: this.#basePath + req.path,
            headers:
              token !== undefined
                ? bearerHeaders(req, token)
                : req.headers || req.contentType
                  ? protocolHeaders(req, undefined)
                  : req.body
                    ? { 'x-goog-api-key': req.apiKey!, 'content-type': 'application/json', 'user-agent': 'nanogate' }
                    : { 'x-goog-api-key': req.apiKey!, 'user-agent': 'nanogate' },
            body: req.body ?? null,
            headersTimeout: this.#opts.timeoutMs,
            bodyTimeout: this.#opts.timeoutMs,
          },
          handler,
        );
      } catch (e) {
        handler.onResponseError(undefined, e as Error);
      }
    });
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}
