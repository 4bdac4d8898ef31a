/**
 * Quota decides, the face renders (STYLE.md, fastify-rate-limit's errorResponseBuilder):
 * admission against project+model and tenant limits in one atomic store step (contract §7),
 * token correction from usageMetadata, Google-triggered cool-downs, and the admin snapshot.
 */
import type { Logger } from 'pino';
import { GatewayError, type QuotaRefusal } from '../errors/gateway-error.js';
import type { ModelSpec } from '../models/catalog.js';
import { newEntryId } from './entry-id.js';
import { projectLimitsFor, type Limits, type Tier } from './limits.js';
import { quotaMetricFor } from './quota-ids.js';
import type { QuotaCounters, QuotaDimension, RequestCounts } from './store.js';
import { PacificPeriods } from '../time/pacific-periods.js';
import { WINDOW_MS } from './windows.js';

export interface QuotaProject {
  id: string;
  tier: Tier;
  /** Per-model overrides keyed by canonical id (config `projects[].limits`). */
  limits?: Record<string, Limits>;
}

export interface AdmissionInput {
  project: QuotaProject;
  tenantId: string;
  tenantLimits?: Limits;
  model: ModelSpec;
  estimatedInputTokens: number;
  /** Images this call is expected to produce (IPM). */
  images: number;
  nowMs: number;
}

/** An admitted call: enough to correct its tokens later, plus OpenAI's x-ratelimit-* figures. */
export interface Admission {
  readonly projectId: string;
  readonly tenantId: string;
  readonly model: string;
  readonly entryId: string;
  readonly admittedAtMs: number;
  readonly estimatedInputTokens: number;
  readonly images: number;
  /** The tightest requests dimension (rpm or rpd, project or tenant) after this admission. */
  readonly limitRequests?: number;
  readonly remainingRequests?: number;
  /** Until that dimension is back to its full limit (OpenAI's x-ratelimit-reset-requests). */
  readonly resetRequestsMs?: number;
}

export interface QuotaSnapshotRow {
  model: string;
  dimension: QuotaDimension;
  limit: number;
  used: number;
  remaining: number;
  /** When `used` is back to 0: the newest minute entry ages out, or Pacific midnight for rpd. */
  resetAtMs: number;
}

/** Google's cool-down when its 429 carries no RetryInfo (contract §7). */
const DEFAULT_COOLDOWN_MS = 60_000;

export class QuotaService {
  readonly #store: QuotaCounters;
  readonly #logger: Logger | undefined;
  readonly #periods = new PacificPeriods();

  constructor(opts: { store: QuotaCounters; logger?: Logger }) {
    this.#store = opts.store;
    this.#logger = opts.logger;
  }

  /** Counts the call against every limit, or throws QUOTA_EXHAUSTED having counted nothing. */
  async admit(input: AdmissionInput): Promise<Admission> {
    const nowMs = Math.floor(input.nowMs);
    const projectLimits = projectLimitsFor(input.project.tier, input.project.limits, input.model);
    const tenantLimits = input.tenantLimits ?? {};
    const day = this.#periods.day(nowMs);
    const tokens = wholeCount(input.estimatedInputTokens);
    const images = wholeCount(input.images);
    const entryId = newEntryId();
    const outcome = await this.#store.admit({
      projectId: input.project.id,
      model: input.model.id,
      tenantId: input.tenantId,
      projectLimits,
      tenantLimits,
      entryId,
      tokens,
      images,
      nowMs,
      day: day.key,
      dayEndsAtMs: day.endsAtMs,
    });
    if (!outcome.admitted) {
      const refusal: QuotaRefusal = {
        scope: outcome.scope,
        dimension: outcome.dimension,
        limit: outcome.limit,
        used: outcome.used,
        retryAfterMs: outcome.retryAfterMs,
        model: input.model.id,
        projectId: input.project.id,
        tenantId: input.tenantId,
        tier: input.project.tier,
      };
      throw new GatewayError('QUOTA_EXHAUSTED', refusalMessage(refusal), { quota: refusal, retryAfterMs: refusal.retryAfterMs });
    }
    const tightest = tightestRequests(
      [
        { limits: projectLimits, used: outcome.usedAfter.project },
        { limits: tenantLimits, used: outcome.usedAfter.tenant },
      ],
      day.endsAtMs - nowMs,
    );
    return {
      projectId: input.project.id,
      tenantId: input.tenantId,
      model: input.model.id,
      entryId,
      admittedAtMs: nowMs,
      estimatedInputTokens: tokens,
      images,
      ...tightest,
    };
  }

  /** Replaces the admission's estimate by Google's promptTokenCount in the tpm windows. Once per admission. */
  async correct(admission: Admission, actualInputTokens: number, nowMs: number): Promise<void> {
    const actual = wholeCount(actualInputTokens);
    // Past the window the entry no longer counts: nothing to correct, no round trip.
    if (actual === admission.estimatedInputTokens || nowMs >= admission.admittedAtMs + WINDOW_MS) return;
    await this.#store.correctTokens({
      projectId: admission.projectId,
      model: admission.model,
      tenantId: admission.tenantId,
      entryId: admission.entryId,
      admittedAtMs: admission.admittedAtMs,
      images: admission.images,
      estimatedTokens: admission.estimatedInputTokens,
      actualTokens: actual,
    });
  }

  /** After Google's 429: every instance refuses this project+model until the delay has passed. */
  async startCooldown(projectId: string, model: string, retryDelayMs: number, nowMs: number): Promise<void> {
    const delayMs = Number.isFinite(retryDelayMs) && retryDelayMs > 0 ? Math.ceil(retryDelayMs) : DEFAULT_COOLDOWN_MS;
    const at = Math.floor(nowMs);
    this.#logger?.warn({ projectId, model, cooldownMs: delayMs }, 'Google answered 429: model cooling down');
    await this.#store.startCooldown(projectId, model, at + delayMs, at);
  }

  /** GET /admin/projects/{id}/quota: each limited dimension of each model. */
  async snapshot(project: QuotaProject, models: readonly ModelSpec[], nowMs: number): Promise<QuotaSnapshotRow[]> {
    const at = Math.floor(nowMs);
    const day = this.#periods.day(at);
    const rows: QuotaSnapshotRow[] = [];
    for (const model of models) {
      const limits = projectLimitsFor(project.tier, project.limits, model);
      const usage = await this.#store.projectUsage(project.id, model.id, at, day.key);
      for (const dimension of ['rpm', 'tpm', 'rpd', 'ipm'] as const) {
        const limit = limits[dimension];
        if (limit === undefined) continue;
        const used = usage[dimension];
        const resetAtMs = dimension === 'rpd' ? day.endsAtMs : usage.newestAtMs !== undefined ? usage.newestAtMs + WINDOW_MS : at;
        rows.push({ model: model.id, dimension, limit, used, remaining: Math.max(0, limit - used), resetAtMs });
      }
    }
    return rows;
  }
}

function wholeCount(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0;
}

function tightestRequests(
  scopes: Array<{ limits: Limits; used: RequestCounts }>,
  msToDayEnd: number,
): Pick<Admission, 'limitRequests' | 'remainingRequests' | 'resetRequestsMs'> {
  let best: { limitRequests: number; remainingRequests: number; resetRequestsMs: number } | undefined;
  for (const s of scopes) {
    const candidates = [
      // This admission is the newest minute entry: the window is whole again one minute on.
      { limit: s.limits.rpm, used: s.used.rpm, resetMs: WINDOW_MS },
      { limit: s.limits.rpd, used: s.used.rpd, resetMs: msToDayEnd },
    ];
    for (const c of candidates) {
      if (c.limit === undefined) continue;
      const remaining = Math.max(0, c.limit - c.used);
      if (!best || remaining < best.remainingRequests || (remaining === best.remainingRequests && c.resetMs > best.resetRequestsMs)) {
        best = { limitRequests: c.limit, remainingRequests: remaining, resetRequestsMs: c.resetMs };
      }
    }
  }
  return best ?? {};
}

function retrySeconds(ms: number): string {
  return `${Math.ceil(ms / 10) / 100}s`;
}

/** Google's wording (limits.md §5), so clients that parse the message keep working. */
function refusalMessage(r: QuotaRefusal): string {
  const retry = `Please retry in ${retrySeconds(r.retryAfterMs)}.`;
  if (r.dimension === 'cooldown') {
    return `Google reported the quota of model ${r.model} exhausted for this project; requests to it are paused.\n${retry}`;
  }
  const lead =
    r.scope === 'tenant'
      ? `You exceeded your quota on this gateway (tenant ${r.tenantId}).`
      : 'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.';
  return `${lead}\n* Quota exceeded for metric: ${quotaMetricFor(r)}, limit: ${r.limit}, model: ${r.model}\n${retry}`;
}
