import type { IncomingHttpHeaders } from 'node:http';

export type CredentialSource = 'x-goog-api-key' | 'query-key' | 'bearer';

export interface PresentedCredential {
  key: string;
  source: CredentialSource;
}

/** The same credential given twice with different values: refused, never resolved by picking one. */
export interface AmbiguousCredential {
  ambiguous: true;
  source: CredentialSource;
}

/**
 * Whether a header arrived more than once with different values. Node keeps only the first
 * `Authorization` (and joins repeated `x-goog-api-key` values with ", "), while a proxy in
 * front may have read the other one: a repeat that disagrees is ambiguous, not a choice.
 */
export function hasConflictingRepeats(rawHeaders: readonly string[] | undefined, name: string): boolean {
  if (!rawHeaders) return false;
  let first: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length !== name.length || rawHeaders[i]!.toLowerCase() !== name) continue;
    const value = rawHeaders[i + 1]!.trim();
    if (first === undefined) first = value;
    else if (value !== first) return true;
  }
  return false;
}

/**
 * Where clients put their key (contract §3): `x-goog-api-key` and `?key=` (what @google/genai
 * and curl send), `Authorization: Bearer` (the openai SDK). Both faces accept all three; the
 * first of them present wins, and one of them repeated with different values is ambiguous.
 */
export function readCredential(headers: IncomingHttpHeaders, query: unknown, rawHeaders?: readonly string[]): PresentedCredential | AmbiguousCredential | undefined {
  const goog = headers['x-goog-api-key'];
  const googKey = Array.isArray(goog) ? goog[0] : goog;
  if (googKey) {
    if (hasConflictingRepeats(rawHeaders, 'x-goog-api-key')) return { ambiguous: true, source: 'x-goog-api-key' };
    return { key: googKey.trim(), source: 'x-goog-api-key' };
  }
  const auth = headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m?.[1]) {
      if (hasConflictingRepeats(rawHeaders, 'authorization')) return { ambiguous: true, source: 'bearer' };
      return { key: m[1].trim(), source: 'bearer' };
    }
  }
  if (query && typeof query === 'object' && 'key' in query) {
    const k = (query as { key: unknown }).key;
    if (Array.isArray(k) && k.some((v) => v !== k[0])) return { ambiguous: true, source: 'query-key' };
    const key = Array.isArray(k) ? k[0] : k;
    if (typeof key === 'string' && key) return { key, source: 'query-key' };
  }
  return undefined;
}
