import type { IncomingHttpHeaders } from 'node:http';

export type CredentialSource = 'x-goog-api-key' | 'query-key' | 'bearer';

export interface PresentedCredential {
  key: string;
  source: CredentialSource;
}

/**
 * Where clients put their key (contract §3): `x-goog-api-key` and `?key=` (what @google/genai
 * and curl send), `Authorization: Bearer` (the openai SDK). Both faces accept all three.
 */
export function readCredential(headers: IncomingHttpHeaders, query: unknown): PresentedCredential | undefined {
  const goog = headers['x-goog-api-key'];
  const googKey = Array.isArray(goog) ? goog[0] : goog;
  if (googKey) return { key: googKey.trim(), source: 'x-goog-api-key' };
  const auth = headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m?.[1]) return { key: m[1].trim(), source: 'bearer' };
  }
  if (query && typeof query === 'object' && 'key' in query) {
    const k = (query as { key: unknown }).key;
    const key = Array.isArray(k) ? k[0] : k;
    if (typeof key === 'string' && key) return { key, source: 'query-key' };
  }
  return undefined;
}
