/** Plain HTTP calls to the mock for its own tests: status, headers and the raw body text. */
import { request } from 'undici';

export const KEY = 'test-google-key';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** How many pieces the body arrived in. */
  reads: number;
}

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  /** Sent as x-goog-api-key; null sends none. */
  key?: string | null;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export async function call(baseUrl: string, path: string, opts: CallOptions = {}): Promise<RawAnswer> {
  const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { ...opts.headers };
  const key = opts.key === undefined ? KEY : opts.key;
  if (key !== null) headers['x-goog-api-key'] = key;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  }
  const res = await request(`${baseUrl}${path}`, { method, headers, body, signal: opts.signal });
  const pieces: Buffer[] = [];
  for await (const piece of res.body) pieces.push(piece as Buffer);
  return { status: res.statusCode, headers: res.headers, text: Buffer.concat(pieces).toString('utf8'), reads: pieces.length };
}

export function json(answer: RawAnswer): unknown {
  return JSON.parse(answer.text);
}

/** A minimal generation request. */
export function prompt(text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { contents: [{ role: 'user', parts: [{ text }] }], ...extra };
}

/** Google's escaping of `<`, `>` and `&`, to compare raw bodies with a re-serialization. */
export function escapeLikeGoogle(s: string): string {
  return s.replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
