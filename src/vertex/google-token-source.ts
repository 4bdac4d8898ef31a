import { readFile } from 'node:fs/promises';
import type { JWTInput } from 'google-auth-library';
import { systemClock } from '../time/clock.js';
import { AccessTokenError, type FetchedToken } from './access-tokens.js';

/** Vertex AI's scope (Google: "Authenticate to Vertex AI"). */
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** Where google-auth-library (10.x) always sends a service account's assertion, whatever the key file's token_uri says. */
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** Per request to the token endpoint; the library retries a 5xx or a dropped connection itself (3 times). */
const TOKEN_REQUEST_TIMEOUT_MS = 10_000;
/** When a source says nothing of a token's lifetime: well under Google's hour. */
const UNKNOWN_LIFETIME_MS = 10 * 60_000;

export interface GoogleTokenSourceOptions {
  /** A service-account JSON key file; absent: Application Default Credentials. */
  keyFile?: string;
  /** The token endpoint, when not the key file's token_uri or Google's. */
  tokenUrl?: string;
}

/**
 * The fetch of an AccessTokens: each call makes one new token with google-auth-library. A key
 * file is read at every fetch (about once an hour), so a rotated key is picked up without a
 * restart; its `token_uri` is honoured (the library's JWT flow posts to Google's URL
 * regardless, so the request is re-addressed on the way out), which is how tests point it at a
 * local token endpoint. Without a key file the library finds Application Default Credentials
 * (GOOGLE_APPLICATION_CREDENTIALS, gcloud's, the metadata server on Google Cloud).
 */
export function googleTokenSource(opts: GoogleTokenSourceOptions): () => Promise<FetchedToken> {
  return async () => {
    // Loaded with the first Vertex AI token: a gateway without Vertex projects never pays for it.
    const { GoogleAuth, gaxios } = await import('google-auth-library');
    const credentials = opts.keyFile !== undefined ? await readServiceAccount(opts.keyFile) : undefined;
    const tokenUrl = opts.tokenUrl ?? credentials?.token_uri;
    const transporter = new gaxios.Gaxios({ timeout: TOKEN_REQUEST_TIMEOUT_MS });
    if (tokenUrl !== undefined && tokenUrl !== GOOGLE_TOKEN_URL) {
      const target = new URL(tokenUrl);
      transporter.interceptors.request.add({
        resolved: async (request) => {
          if (request.url.href === GOOGLE_TOKEN_URL) request.url = target;
          return request;
        },
      });
    }
    // A new client each time: the cache and its refresh are AccessTokens' (on the gateway's clock).
    const auth = new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE], ...(credentials ? { credentials } : {}), clientOptions: { transporter } });
    try {
      const client = await auth.getClient();
      const { token } = await client.getAccessToken();
      if (!token) throw new AccessTokenError('the token endpoint answered without an access token', { refused: false });
      // The library stamps the expiry on the system clock: turned into a lifetime on that same clock.
      const expiry = client.credentials.expiry_date;
      const expiresInMs = typeof expiry === 'number' ? expiry - systemClock.nowMs() : UNKNOWN_LIFETIME_MS;
      return { accessToken: token, expiresInMs };
    } catch (e) {
      throw classify(e);
    }
  };
}

interface ServiceAccountKey extends JWTInput {
  token_uri?: string;
}

async function readServiceAccount(path: string): Promise<ServiceAccountKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new AccessTokenError(`cannot read the key file ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { refused: true });
  }
  const problem = serviceAccountProblem(text);
  if (problem) throw new AccessTokenError(`the key file ${path} ${problem}`, { refused: true });
  return JSON.parse(text) as ServiceAccountKey;
}

/**
 * What is wrong with a service-account key file's text, or undefined when it looks usable. The
 * gateway checks each file at start with this, so a wrong path stops the start, not the first call.
 */
export function serviceAccountProblem(text: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return 'is not a JSON object';
  const key = parsed as Record<string, unknown>;
  if (key['type'] !== 'service_account') return `is not a service-account key (type is ${JSON.stringify(key['type'] ?? null)}, not "service_account")`;
  for (const field of ['client_email', 'private_key'] as const) {
    if (typeof key[field] !== 'string' || key[field] === '') return `has no ${field}`;
  }
  if (key['token_uri'] !== undefined && (typeof key['token_uri'] !== 'string' || !/^https?:\/\//.test(key['token_uri']))) return 'has a token_uri that is not an http(s) URL';
  return undefined;
}

/**
 * An error of the library as AccessTokenError: the token endpoint refusing the credentials (a
 * 4xx: invalid_grant, a disabled account, a deleted key) or no credentials at all is the
 * operator's; a 5xx, 408/429 or no answer may pass. The message keeps OAuth's own words
 * (`invalid_grant: Invalid JWT Signature.`), never the body of a 5xx page.
 */
function classify(e: unknown): AccessTokenError {
  if (e instanceof AccessTokenError) return e;
  const err = e as { message?: unknown; code?: unknown; response?: { status?: unknown; data?: unknown }; config?: unknown; name?: unknown };
  const status = typeof err.response?.status === 'number' ? err.response.status : undefined;
  if (status !== undefined) {
    const data = err.response?.data;
    const oauth = data && typeof data === 'object' ? (data as Record<string, unknown>) : undefined;
    const words = oauth && typeof oauth['error'] === 'string' ? `${oauth['error']}${typeof oauth['error_description'] === 'string' ? `: ${oauth['error_description']}` : ''}` : `HTTP ${status}`;
    const passing = status >= 500 || status === 408 || status === 429;
    return new AccessTokenError(`the token endpoint answered ${words}`, { refused: !passing, httpStatus: status });
  }
  const message = typeof err.message === 'string' ? err.message : String(e);
  // A request that got no answer (gaxios errors carry their request config): refused connection, timeout, DNS.
  if (err.config !== undefined || err.name === 'AbortError' || err.name === 'TimeoutError') {
    return new AccessTokenError(`the token endpoint could not be reached (${typeof err.code === 'string' ? err.code : message})`, { refused: false });
  }
  // Anything else is the credentials themselves: none found, or a key the library cannot use.
  return new AccessTokenError(message, { refused: true });
}
