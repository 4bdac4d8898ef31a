import type { Logger } from 'pino';
import type { ProjectRefusal, ProjectRefusalReason } from '../gemini/errors.js';
import type { Clock } from '../time/clock.js';

/** One error line per project per this long: a refused project fails every call, and every call would log. */
const ALERT_EVERY_MS = 60_000;

const WHAT_TO_FIX: Record<ProjectRefusalReason, string> = {
  API_KEY_INVALID: 'Google does not accept its API key: set a valid key (projects[].apiKey, GEMINI_API_KEY for "default")',
  PERMISSION_DENIED: 'its API key may not call the Gemini API (API disabled for the project, key restricted, or key blocked)',
  UNAUTHENTICATED: 'Google did not accept its credentials',
  PREPAYMENT_DEPLETED: 'its prepaid credit is used up: top it up in AI Studio (Billing)',
};

export interface ProjectRefusalsOptions {
  clock: Clock;
  logger: Logger;
  /** Every refusal, for the metric. */
  onRefusal?: (projectId: string, reason: ProjectRefusalReason) => void;
  alertEveryMs?: number;
}

interface Refused {
  refusal: ProjectRefusal;
  sinceMs: number;
  /** Refusals since the last error line. */
  unreported: number;
  lastAlertMs: number;
}

/**
 * Google refusing the gateway's own project (its key, its permission, its prepaid credit) is the
 * operator's problem, not the tenant's (#12). The faces answer 503; this tells the operator:
 * an error line per project at most once a minute, a metric per refusal, and /readyz detail
 * naming each refused project until a call on it succeeds again.
 */
export class ProjectRefusals {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #onRefusal: ProjectRefusalsOptions['onRefusal'];
  readonly #alertEveryMs: number;
  readonly #refused = new Map<string, Refused>();

  constructor(opts: ProjectRefusalsOptions) {
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#onRefusal = opts.onRefusal;
    this.#alertEveryMs = opts.alertEveryMs ?? ALERT_EVERY_MS;
  }

  /** Google refused a call made with this project's key. `apiKey` is scrubbed from Google's message in the log. */
  refused(projectId: string, apiKey: string, refusal: ProjectRefusal): void {
    const nowMs = this.#clock.nowMs();
    this.#onRefusal?.(projectId, refusal.reason);
    const google = apiKey ? refusal.message.replaceAll(apiKey, '[redacted]') : refusal.message;
    let state = this.#refused.get(projectId);
    if (!state || state.refusal.reason !== refusal.reason) {
      state = { refusal, sinceMs: nowMs, unreported: 0, lastAlertMs: Number.NEGATIVE_INFINITY };
      this.#refused.set(projectId, state);
    }
    state.refusal = { ...refusal, message: google };
    state.unreported++;
    if (nowMs - state.lastAlertMs < this.#alertEveryMs) return;
    this.#logger.error(
      {
        project: projectId,
        reason: refusal.reason,
        httpStatus: refusal.httpStatus,
        googleStatus: refusal.googleStatus,
        google,
        refusedCalls: state.unreported,
        since: new Date(state.sinceMs).toISOString(),
      },
      `Google refuses project ${projectId}: ${WHAT_TO_FIX[refusal.reason]}. Its tenants get 503 until this is fixed.`,
    );
    state.lastAlertMs = nowMs;
    state.unreported = 0;
  }

  /** A call on this project got a successful answer: whatever refused it is fixed. */
  accepted(projectId: string): void {
    const state = this.#refused.get(projectId);
    if (!state) return;
    this.#refused.delete(projectId);
    this.#logger.info({ project: projectId, reason: state.refusal.reason }, `Google accepts project ${projectId} again`);
  }

  /** /readyz detail: 'ok', or each refused project named (degraded: see ops/plugin.ts for why not 503). */
  readiness(): 'ok' | { degraded: string } {
    if (this.#refused.size === 0) return 'ok';
    const parts = [...this.#refused].map(
      ([id, s]) => `project ${id} refused by Google since ${new Date(s.sinceMs).toISOString()} (${s.refusal.reason}: ${WHAT_TO_FIX[s.refusal.reason]})`,
    );
    return { degraded: parts.join('; ') };
  }
}
