/**
 * Sign-in for the admin console (#18): an HMAC-signed session token in an HttpOnly cookie, and
 * a CSRF token derived from the same session for every request that changes state.
 *
 * Signed, not stored: every instance that shares ADMIN_TOKEN accepts a session any of them
 * issued (the ops ports of a fleet sit behind one address), and a restart signs no one out.
 * The signing key is derived from the admin token, so rotating the token ends every session.
 * The cookie never holds the admin token itself: a stolen cookie is worth one session, up to
 * its expiry, never the token. Signing out also lists the session as ended in this instance
 * until it would have expired (another instance only sees the cookie gone from the browser).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../../time/clock.js';

export const SESSION_COOKIE = 'nanogate_console';
/** The cookie goes with admin requests only. */
export const SESSION_COOKIE_PATH = '/admin';
/** A working day; then the console asks for the token again. */
export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60_000;
/** Where the console sends its CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';

const VERSION = 'v1';
const TOKEN = /^v1\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export interface ConsoleSession {
  /** Names the session; random, never reused. */
  readonly nonce: string;
  readonly expiresAtMs: number;
  /** What the console must send in X-CSRF-Token on POST, PATCH and DELETE. */
  readonly csrfToken: string;
}

export interface ConsoleSessionsOptions {
  adminToken: string;
  clock: Clock;
  ttlMs?: number;
}

export class ConsoleSessions {
  readonly #key: Buffer;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  /** Sessions signed out here, until they would have expired anyway. */
  readonly #ended = new Map<string, number>();

  constructor(opts: ConsoleSessionsOptions) {
    this.#key = createHmac('sha256', opts.adminToken).update('nanogate console session key v1').digest();
    this.#clock = opts.clock;
    this.#ttlMs = opts.ttlMs ?? DEFAULT_SESSION_TTL_MS;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** A new session and the cookie value that carries it. */
  issue(): { session: ConsoleSession; token: string } {
    const nonce = randomBytes(16).toString('base64url');
    const expiresAtMs = Math.floor(this.#clock.nowMs()) + this.#ttlMs;
    const payload = `${VERSION}.${expiresAtMs.toString(36)}.${nonce}`;
    return { session: this.#session(nonce, expiresAtMs), token: `${payload}.${this.#sign(payload)}` };
  }

  /** The session a cookie value carries: undefined when malformed, forged, expired or signed out. */
  verify(token: string | undefined): ConsoleSession | undefined {
    const m = token === undefined ? null : TOKEN.exec(token);
    if (!m) return undefined;
    const [, exp36, nonce] = m as unknown as [string, string, string, string];
    const payload = `${VERSION}.${exp36}.${nonce}`;
    if (!equalText(this.#sign(payload), m[3]!)) return undefined;
    const expiresAtMs = parseInt(exp36, 36);
    const nowMs = this.#clock.nowMs();
    if (!(expiresAtMs > nowMs) || this.#ended.has(nonce)) return undefined;
    return this.#session(nonce, expiresAtMs);
  }

  /** The session of a request's cookie, if it has a good one. */
  fromRequest(request: FastifyRequest): ConsoleSession | undefined {
    return this.verify(readCookie(request.headers.cookie, SESSION_COOKIE));
  }

  /** Constant-time comparison of the header a request sent with the session's CSRF token. */
  csrfMatches(session: ConsoleSession, header: string | string[] | undefined): boolean {
    return typeof header === 'string' && equalText(header, session.csrfToken);
  }

  /** Signs the session out in this instance (the browser drops the cookie too). */
  end(session: ConsoleSession): void {
    const nowMs = this.#clock.nowMs();
    for (const [nonce, until] of this.#ended) if (until <= nowMs) this.#ended.delete(nonce);
    this.#ended.set(session.nonce, session.expiresAtMs);
  }

  /** Set-Cookie for a session: HttpOnly, SameSite=Strict, Secure when the request came over TLS. */
  cookie(token: string, secure: boolean): string {
    return serializeCookie(token, Math.floor(this.#ttlMs / 1000), secure);
  }

  /** Set-Cookie that removes the session cookie. */
  clearCookie(secure: boolean): string {
    return serializeCookie('', 0, secure);
  }

  #session(nonce: string, expiresAtMs: number): ConsoleSession {
    return { nonce, expiresAtMs, csrfToken: this.#sign(`csrf.${nonce}`) };
  }

  #sign(text: string): string {
    return createHmac('sha256', this.#key).update(text).digest('base64url');
  }
}

function serializeCookie(value: string, maxAgeS: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=${SESSION_COOKIE_PATH}; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The first cookie of that name in a Cookie header (RFC 6265 §5.4 order: the most specific path first). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
