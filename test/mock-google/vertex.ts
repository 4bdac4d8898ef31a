/**
 * The mock's Vertex AI (#17.3): Google's publisher models under a project and location
 * (`/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`,
 * `:streamGenerateContent`, `:countTokens`), answered as the Gemini API paths answer, for callers
 * with an OAuth access token; and a local OAuth token endpoint that takes a service account's
 * signed assertion (RFC 7523, as google-auth-library sends it) and returns
 * `{access_token, expires_in, token_type}`, counting every request so tests see caching and
 * refresh. A test makes a service account with `makeServiceAccount`: an RSA key from node:crypto,
 * the key file JSON with `token_uri` pointing here, and the public key the mock verifies with.
 */
import { createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import { googleError, type GoogleError } from './wire.js';

/** The path of the mock's OAuth token endpoint (a key file's token_uri is `<mock url>/token`). */
export const TOKEN_PATH = '/token';
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const RPC = 'type.googleapis.com/google.rpc.';

export type VertexRoute =
  | { kind: 'generate'; project: string; location: string; model: string; stream: boolean; version: string }
  | { kind: 'countTokens'; project: string; location: string; model: string; version: string }
  | { kind: 'methodNotFound' };

/** A Vertex path, or undefined when the path is not Vertex's. */
export function vertexRoute(method: string, path: string): VertexRoute | undefined {
  const m = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):([A-Za-z]+)$/.exec(path);
  if (!m) return /^\/(v1|v1beta1)\/projects\//.test(path) ? { kind: 'methodNotFound' } : undefined;
  const [, version, project, location, model, verb] = m as unknown as [string, string, string, string, string, string];
  if (method !== 'POST') return { kind: 'methodNotFound' };
  const where = { project: decodeURIComponent(project), location: decodeURIComponent(location), model: decodeURIComponent(model), version };
  if (verb === 'generateContent') return { kind: 'generate', ...where, stream: false };
  if (verb === 'streamGenerateContent') return { kind: 'generate', ...where, stream: true };
  if (verb === 'countTokens') return { kind: 'countTokens', ...where };
  return { kind: 'methodNotFound' };
}

/** Vertex's answers to calls it cannot take, in Google's envelope. */
export const vertexErrors = {
  missingCredential: () =>
    googleError(
      401,
      'UNAUTHENTICATED',
      'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      [{ '@type': `${RPC}ErrorInfo`, reason: 'CREDENTIALS_MISSING', domain: 'googleapis.com', metadata: { service: 'aiplatform.googleapis.com', method: 'google.cloud.aiplatform.v1.PredictionService.GenerateContent' } }],
    ),
  apiKeyNotSupported: () =>
    googleError(
      401,
      'UNAUTHENTICATED',
      'API keys are not supported by this API. Expected OAuth2 access token or other authentication credentials that assert a principal. See https://cloud.google.com/docs/authentication',
      [{ '@type': `${RPC}ErrorInfo`, reason: 'CREDENTIALS_MISSING', domain: 'googleapis.com', metadata: { service: 'aiplatform.googleapis.com' } }],
    ),
  invalidToken: () =>
    googleError(
      401,
      'UNAUTHENTICATED',
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      [{ '@type': `${RPC}ErrorInfo`, reason: 'ACCESS_TOKEN_EXPIRED', domain: 'googleapis.com', metadata: { service: 'aiplatform.googleapis.com' } }],
    ),
  modelNotFound: (project: string, location: string, model: string) =>
    googleError(404, 'NOT_FOUND', `Publisher Model \`projects/${project}/locations/${location}/publishers/google/models/${model}\` not found.`),
  methodNotFound: () => googleError(404, 'NOT_FOUND', 'Method not found.'),
};

/** What the token endpoint answers instead of a token while set. */
export type TokenFault = { status: number; body?: unknown } | { kind: 'hang' };

export interface MockVertexControl {
  /** `<mock url>/token`: the token_uri of the key files tests make. */
  tokenUrl: string;
  /** A service account whose assertions the token endpoint accepts (verified with its public key). */
  addServiceAccount(email: string, publicKeyPem: string): void;
  /** Requests the token endpoint received (answered or refused), since the last reset. */
  tokenRequests(): number;
  /** Access tokens issued, oldest first, since the last reset. */
  issuedTokens(): string[];
  /** The token endpoint answers with this until cleared (a refused key: 400 invalid_grant; an outage: 503). */
  setTokenFault(fault: TokenFault | undefined): void;
  /** Lifetime of the tokens issued from now on (default 3599 s, as Google's). */
  setTokenLifetimeSeconds(seconds: number): void;
  /** Every token issued so far stops being accepted (as if expired at Google). */
  expireTokens(): void;
  /** A valid token, as if a service account had asked (not counted): for tests of what is done with one. */
  issueToken(): string;
}

export interface MockVertex extends MockVertexControl {
  /** The token a request's Authorization header carries, when it is one the mock issued and it is still valid. */
  validToken(authorization: string | undefined): { ok: true; token: string } | { ok: false; error: GoogleError };
  /** Answers POST /token: status and JSON body. */
  token(body: Buffer): { status: number; body: unknown } | 'hang';
  reset(): void;
}

function base64urlJson(part: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const oauthError = (error: string, description: string) => ({ status: 400, body: { error, error_description: description } });

export function createMockVertex(opts: { url: () => string; nowMs: () => number }): MockVertex {
  const accounts = new Map<string, string>();
  const issued = new Map<string, number>();
  const issuedOrder: string[] = [];
  let requests = 0;
  let fault: TokenFault | undefined;
  let lifetimeSeconds = 3599;

  return {
    get tokenUrl() {
      return `${opts.url()}${TOKEN_PATH}`;
    },
    addServiceAccount: (email, publicKeyPem) => void accounts.set(email, publicKeyPem),
    tokenRequests: () => requests,
    issuedTokens: () => [...issuedOrder],
    setTokenFault: (f) => {
      fault = f;
    },
    setTokenLifetimeSeconds: (seconds) => {
      lifetimeSeconds = seconds;
    },
    expireTokens: () => issued.clear(),
    issueToken: () => {
      const token = `ya29.mock-${randomBytes(24).toString('base64url')}`;
      issued.set(token, opts.nowMs() + lifetimeSeconds * 1000);
      return token;
    },

    validToken(authorization) {
      const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
      if (!m) return { ok: false, error: vertexErrors.missingCredential() };
      const token = m[1]!;
      const expiresAtMs = issued.get(token);
      if (expiresAtMs === undefined || opts.nowMs() >= expiresAtMs) return { ok: false, error: vertexErrors.invalidToken() };
      return { ok: true, token };
    },

    token(body) {
      requests++;
      if (fault) return 'kind' in fault ? 'hang' : { status: fault.status, body: fault.body ?? { error: 'internal_failure', error_description: 'Backend Error' } };
      const form = new URLSearchParams(body.toString('utf8'));
      if (form.get('grant_type') !== JWT_BEARER_GRANT) return oauthError('unsupported_grant_type', 'Invalid grant_type: ' + (form.get('grant_type') ?? ''));
      const assertion = form.get('assertion');
      if (!assertion) return oauthError('invalid_request', 'Missing required parameter: assertion');
      const parts = assertion.split('.');
      const header = parts.length === 3 ? base64urlJson(parts[0]!) : undefined;
      const claims = parts.length === 3 ? base64urlJson(parts[1]!) : undefined;
      if (!header || !claims) return oauthError('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
      const publicKey = typeof claims['iss'] === 'string' ? accounts.get(claims['iss']) : undefined;
      if (!publicKey) return oauthError('invalid_grant', 'Invalid grant: account not found');
      const verifier = createVerify('RSA-SHA256');
      verifier.update(`${parts[0]}.${parts[1]}`);
      if (header['alg'] !== 'RS256' || !verifier.verify(publicKey, Buffer.from(parts[2]!, 'base64url'))) return oauthError('invalid_grant', 'Invalid JWT Signature.');
      const nowSeconds = Math.floor(opts.nowMs() / 1000);
      if (typeof claims['exp'] !== 'number' || claims['exp'] <= nowSeconds) return oauthError('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
      const scopes = typeof claims['scope'] === 'string' ? claims['scope'].split(' ') : [];
      if (!scopes.includes(CLOUD_PLATFORM_SCOPE)) return oauthError('invalid_scope', `Vertex AI needs the scope ${CLOUD_PLATFORM_SCOPE}.`);
      const token = `ya29.mock-${randomBytes(24).toString('base64url')}`;
      issued.set(token, opts.nowMs() + lifetimeSeconds * 1000);
      issuedOrder.push(token);
      return { status: 200, body: { access_token: token, expires_in: lifetimeSeconds, token_type: 'Bearer' } };
    },

    reset() {
      requests = 0;
      issuedOrder.length = 0;
      fault = undefined;
      lifetimeSeconds = 3599;
    },
  };
}

export interface ServiceAccount {
  email: string;
  publicKeyPem: string;
  /** The key file's JSON, as Google's console writes it (token_uri: the given one). */
  keyFile: Record<string, string>;
}

/** A service account with a fresh 2048-bit RSA key, its key file pointing its token_uri at `tokenUri`. */
export function makeServiceAccount(tokenUri: string, email = `nanogate-test@mock-project.iam.gserviceaccount.com`): ServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    email,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyFile: {
      type: 'service_account',
      project_id: 'mock-project',
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: email,
      client_id: '1' + randomBytes(10).readBigUInt64BE().toString().slice(0, 20),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: tokenUri,
      universe_domain: 'googleapis.com',
    },
  };
}
