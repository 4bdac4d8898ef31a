import type { Logger } from 'pino';
import { GatewayError } from '../errors/gateway-error.js';
import type { ProjectRefusal } from '../gemini/errors.js';
import type { Clock } from '../time/clock.js';

/** A token as its source made it: the bearer value and how long it lives from now. */
export interface FetchedToken {
  accessToken: string;
  expiresInMs: number;
}

/**
 * Why no token came. `refused`: the credentials are the operator's to fix (Google's token
 * endpoint refused them, the key file is unreadable, no Application Default Credentials); else
 * the token endpoint could not be reached or failed, which may pass. `detail` is for the
 * operator's log: never a key, an assertion or a token.
 */
export class AccessTokenError extends Error {
  readonly refused: boolean;
  readonly httpStatus: number | undefined;

  constructor(detail: string, opts: { refused: boolean; httpStatus?: number }) {
    super(detail);
    this.name = 'AccessTokenError';
    this.refused = opts.refused;
    this.httpStatus = opts.httpStatus;
  }
}

export interface AccessTokensOptions {
  /** The gateway's project id, for messages. */
  projectId: string;
  /** Makes a new token (google-auth-library in production); throws AccessTokenError. */
  fetch: () => Promise<FetchedToken>;
  clock: Clock;
  logger: Logger;
  /** A token is replaced this long before it expires (google-auth-library's own default: 5 min). */
  refreshBeforeMs?: number;
  /** After a failed fetch, calls fail at once for this long instead of each asking again. */
  retryAfterFailureMs?: number;
  /** Credentials refused: the operator is told (/readyz, the metric), as when Google refuses a key. */
  onRefused?: (refusal: ProjectRefusal) => void;
}

const REFRESH_BEFORE_MS = 5 * 60_000;
const RETRY_AFTER_FAILURE_MS = 5_000;

interface Held {
  token: string;
  expiresAtMs: number;
}

/**
 * A Vertex AI project's OAuth access token, kept and refreshed on the gateway's clock: every
 * call takes the token held until `refreshBeforeMs` before it expires; the first call after that
 * fetches a new one, and calls meanwhile wait for that same fetch (one token request however many
 * calls arrive together). A refresh that fails while the old token is still valid keeps it in
 * use until it expires. google-auth-library makes each token (signing the service account's
 * assertion, or asking the metadata server); its own cache runs on the system clock, so the
 * decision to refresh is taken here, where tests drive it with their clock.
 */
export class AccessTokens {
  readonly #o: AccessTokensOptions;
  readonly #refreshBeforeMs: number;
  readonly #retryAfterFailureMs: number;
  #held: Held | undefined;
  #fetching: Promise<Held> | undefined;
  #failure: { error: GatewayError; untilMs: number } | undefined;

  constructor(opts: AccessTokensOptions) {
    this.#o = opts;
    this.#refreshBeforeMs = opts.refreshBeforeMs ?? REFRESH_BEFORE_MS;
    this.#retryAfterFailureMs = opts.retryAfterFailureMs ?? RETRY_AFTER_FAILURE_MS;
  }

  /** The token for the next call; a GatewayError (in the face's shape, never a 500) when none can be had. */
  async get(): Promise<string> {
    const nowMs = this.#o.clock.nowMs();
    const held = this.#held;
    if (held && nowMs < held.expiresAtMs - this.#refreshBeforeMs) return held.token;
    const failure = this.#failure;
    if (failure && nowMs < failure.untilMs) {
      if (held && nowMs < held.expiresAtMs) return held.token;
      throw failure.error;
    }
    try {
      return (await this.#refresh()).token;
    } catch (e) {
      if (held && this.#o.clock.nowMs() < held.expiresAtMs) return held.token;
      throw e;
    }
  }

  #refresh(): Promise<Held> {
    this.#fetching ??= this.#fetch().finally(() => {
      this.#fetching = undefined;
    });
    return this.#fetching;
  }

  async #fetch(): Promise<Held> {
    const o = this.#o;
    // Its lifetime counts from before the request: the token is never held past its real expiry.
    const startedMs = o.clock.nowMs();
    let fetched: FetchedToken;
    try {
      fetched = await o.fetch();
    } catch (e) {
      const error = this.#failed(e);
      this.#failure = { error, untilMs: o.clock.nowMs() + this.#retryAfterFailureMs };
      throw error;
    }
    const held = { token: fetched.accessToken, expiresAtMs: startedMs + fetched.expiresInMs };
    this.#held = held;
    this.#failure = undefined;
    return held;
  }

  /** The operator's log line and alert, and the error the tenant gets. */
  #failed(e: unknown): GatewayError {
    const o = this.#o;
    // Only the message: a library error object carries the request it made (the signed assertion).
    const cause = e instanceof AccessTokenError ? e : new AccessTokenError(e instanceof Error ? e.message : String(e), { refused: false });
    // Refused credentials are the operator's alert (ProjectRefusals logs them, once a minute).
    if (!cause.refused || !o.onRefused) {
      o.logger.error({ project: o.projectId, refused: cause.refused, ...(cause.httpStatus !== undefined ? { httpStatus: cause.httpStatus } : {}) }, `vertex: no access token for project ${o.projectId}: ${cause.message}`);
    }
    if (cause.refused) {
      o.onRefused?.({ reason: 'UNAUTHENTICATED', httpStatus: cause.httpStatus ?? 401, googleStatus: 'UNAUTHENTICATED', message: `no access token: ${cause.message}` });
      return new GatewayError('UPSTREAM_PROJECT_REFUSED', "The gateway's Google project cannot be used right now: its Vertex AI credentials were not accepted; its operator has been alerted.");
    }
    const status = cause.httpStatus !== undefined ? ` (HTTP ${cause.httpStatus})` : '';
    return new GatewayError('UPSTREAM_UNAVAILABLE', `Could not get an access token from Google for the gateway's Vertex AI project${status}; try again shortly.`);
  }
}
