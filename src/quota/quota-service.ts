/**
 * Quota decides, the face renders (STYLE.md, fastify-rate-limit's errorResponseBuilder):
 * admission against project+model and tenant limits in one atomic store step (contract §7),
 * token correction from usageMetadata, Google-triggered cool-downs, and the admin snapshot.
 */
import type { Logger } from 'pino';
import { GatewayError, type QuotaRefusal } from '../errors/gateway-error.js';
import type { ModelSpec } from '../models/catalog.js';
import { DEFAULT_COOLDOWN_MS } from './cooldown.js';
import { newEntryId } from './entry-id.js';
import { projectLimitsFor, type Limits, type Tier } from './limits.js';
import { quotaMetricFor } from './quota-ids.js';
import type { AdmitOutcome, QuotaCounters, QuotaDimension, RequestCounts } from './store.js';
import { PacificPeriods } from '../time/pacific-periods.js';
import { WINDOW_MS } from './windows.js';

export interface QuotaProject {
  id: string;
  tier: Tier;
  /** Per-model overrides keyed by canonical id (config `projects[].limits`). */
  limits?: Record<string, Limits>;
  /** The pool it belongs to (#17): its counters live under the pool's hash tag, whatever the path. */
  pool?: string;
}

/** A pool's candidates, in the order to try them for this call (a weighted pool shuffles first). */
export interface PoolAdmissionInput extends Omit<AdmissionInput, 'project'> {
  pool: { id: string; projects: readonly QuotaProject[] };
}

export interface AdmissionInput {
  project: QuotaProject;
  tenantId: string;
  tenantLimits?: Limits;
  /** The calling key and its own limits (#13.3), counted within the tenant's; left out when it has none. */
  key?: { id: string; limits: Limits };
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
  /** Set when the key's own scope was counted. */
  readonly keyId?: string;
  /** The project's pool, when it is in one; `pooled` when the pool admitted it (tenant and key counted pool-wide). */
  readonly slot?: string;
  readonly pooled?: boolean;
  readonly model: string;
  readonly entryId: string;
  readonly admittedAtMs: number;
  readonly estimatedInputTokens: number;
  readonly images: number;
  /** The tightest requests dimension (rpm or rpd, project, tenant or key) after this admission. */
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

export interface QuotaSnapshot {
  rows: QuotaSnapshotRow[];
  /** Models refused locally until `untilMs` because Google answered 429. */
  cooldowns: Array<{ model: string; untilMs: number }>;
}

/** A call as both kinds of admission hand it to the store (QuotaService.#prepare). */
interface PreparedCall {
  key: { id: string; limits: Limits } | undefined;
  command: {
    tenantLimits: Limits;
    keyId?: string;
    keyLimits?: Limits;
    entryId: string;
    tokens: number;
    images: number;
    nowMs: number;
    day: string;
    dayEndsAtMs: number;
  };
}

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
    const call = this.#prepare(input);
    const projectLimits = projectLimitsFor(input.project.tier, input.project.limits, input.model);
    const slot = input.project.pool !== undefined ? { slot: input.project.pool } : {};
    const outcome = await this.#store.admit({
      projectId: input.project.id,
      ...slot,
      model: input.model.id,
      tenantId: input.tenantId,
      projectLimits,
      ...call.command,
    });
    return this.#conclude(input, call, outcome, input.project, projectLimits, slot);
  }

  /**
   * Admits on the first of the pool's projects (in the order given) that has room on every
   * dimension and is not cooling down, in one store step (#17); the tenant's and key's limits
   * count once across the pool. Refused: QUOTA_EXHAUSTED naming the project that frees first,
   * with its retry delay, having counted nothing.
   */
  async admitPool(input: PoolAdmissionInput): Promise<Admission> {
    const call = this.#prepare(input);
    const limitsOf = new Map(input.pool.projects.map((p) => [p.id, projectLimitsFor(p.tier, p.limits, input.model)]));
    const outcome = await this.#store.admitPool({
      poolId: input.pool.id,
      projects: input.pool.projects.map((p) => ({ projectId: p.id, projectLimits: limitsOf.get(p.id)! })),
      model: input.model.id,
      tenantId: input.tenantId,
      ...call.command,
    });
    const project = input.pool.projects.find((p) => p.id === outcome.projectId)!;
    return this.#conclude(input, call, outcome, project, limitsOf.get(project.id)!, { slot: input.pool.id, pooled: true });
  }

  /** What both kinds of admission send the store besides the project(s): the call's counts, its entry id, its day. */
  #prepare(input: Omit<AdmissionInput, 'project'>): PreparedCall {
    const nowMs = Math.floor(input.nowMs);
    const day = this.#periods.day(nowMs);
    const tenantLimits = input.tenantLimits ?? {};
    const key = input.key && hasLimits(input.key.limits) ? input.key : undefined;
    const command = {
      tenantLimits,
      ...(key ? { keyId: key.id, keyLimits: key.limits } : {}),
      entryId: newEntryId(),
      tokens: wholeCount(input.estimatedInputTokens),
      images: wholeCount(input.images),
      nowMs,
      day: day.key,
      dayEndsAtMs: day.endsAtMs,
    };
    return { key, command };
  }

  /** The store's verdict as an Admission on `project`, or QUOTA_EXHAUSTED naming it. */
  #conclude(
    input: Omit<AdmissionInput, 'project'>,
    { key, command }: PreparedCall,
    outcome: AdmitOutcome,
    project: QuotaProject,
    projectLimits: Limits,
    extra: { slot?: string; pooled?: true },
  ): Admission {
    if (!outcome.admitted) {
      const refusal: QuotaRefusal = {
        scope: outcome.scope,
        dimension: outcome.dimension,
        limit: outcome.limit,
        used: outcome.used,
        retryAfterMs: outcome.retryAfterMs,
        model: input.model.id,
        projectId: project.id,
        tenantId: input.tenantId,
        ...(outcome.scope === 'key' && key ? { keyId: key.id } : {}),
        tier: project.tier,
      };
      throw new GatewayError('QUOTA_EXHAUSTED', refusalMessage(refusal), { quota: refusal, retryAfterMs: refusal.retryAfterMs });
    }
    const tightest = tightestRequests(
      [
        { limits: projectLimits, used: outcome.usedAfter.project },
        { limits: command.tenantLimits, used: outcome.usedAfter.tenant },
        ...(key && outcome.usedAfter.key ? [{ limits: key.limits, used: outcome.usedAfter.key }] : []),
      ],
      command.dayEndsAtMs - command.nowMs,
    );
    return {
      projectId: project.id,
      tenantId: input.tenantId,
      ...(key ? { keyId: key.id } : {}),
      ...extra,
      model: input.model.id,
      entryId: command.entryId,
      admittedAtMs: command.nowMs,
      estimatedInputTokens: command.tokens,
      images: command.images,
      ...tightest,
    };
  }

  /**
   * Replaces the admission's estimates by what Google reported: its promptTokenCount in the tpm
   * windows, and the images it actually returned in the ipm windows (#13.7). A count left out
   * keeps its estimate. Once per admission.
   */
  async correct(admission: Admission, actual: { inputTokens?: number; images?: number }, nowMs: number): Promise<void> {
    const tokens = actual.inputTokens === undefined ? admission.estimatedInputTokens : wholeCount(actual.inputTokens);
    const images = actual.images === undefined ? admission.images : wholeCount(actual.images);
    if (tokens === admission.estimatedInputTokens && images === admission.images) return;
    // Past the window the entry no longer counts: nothing to correct, no round trip.
    if (nowMs >= admission.admittedAtMs + WINDOW_MS) return;
    await this.#store.correctTokens({
      projectId: admission.projectId,
      model: admission.model,
      tenantId: admission.tenantId,
      ...(admission.keyId !== undefined ? { keyId: admission.keyId } : {}),
      ...(admission.slot !== undefined ? { slot: admission.slot } : {}),
      ...(admission.pooled ? { pooled: true } : {}),
      entryId: admission.entryId,
      admittedAtMs: admission.admittedAtMs,
      estimatedTokens: admission.estimatedInputTokens,
      actualTokens: tokens,
      estimatedImages: admission.images,
      actualImages: images,
    });
  }

  /**
   * After Google's 429: every instance refuses this project+model until the delay has passed
   * (Google's retryDelay; DEFAULT_COOLDOWN_MS when it gave none).
   */
  async startCooldown(projectId: string, model: string, retryDelayMs: number | undefined, nowMs: number, slot?: string): Promise<void> {
    const delayMs = retryDelayMs !== undefined && Number.isFinite(retryDelayMs) && retryDelayMs > 0 ? Math.ceil(retryDelayMs) : DEFAULT_COOLDOWN_MS;
    const at = Math.floor(nowMs);
    this.#logger?.warn({ projectId, model, cooldownMs: delayMs }, 'Google answered 429: model cooling down');
    await this.#store.startCooldown(projectId, model, at + delayMs, at, slot);
  }

  /** GET /admin/projects/{id}/quota: each limited dimension of each model. */
  async snapshot(project: QuotaProject, models: readonly ModelSpec[], nowMs: number): Promise<QuotaSnapshotRow[]> {
    return (await this.snapshotWithCooldowns(project, models, nowMs)).rows;
  }

  /** The snapshot, and the cool-downs after Google's 429 in force (the admin console's live quota view). */
  async snapshotWithCooldowns(project: QuotaProject, models: readonly ModelSpec[], nowMs: number): Promise<QuotaSnapshot> {
    const at = Math.floor(nowMs);
    const day = this.#periods.day(at);
    const rows: QuotaSnapshotRow[] = [];
    const cooldowns: QuotaSnapshot['cooldowns'] = [];
    for (const model of models) {
      const limits = projectLimitsFor(project.tier, project.limits, model);
      const usage = await this.#store.projectUsage(project.id, model.id, at, day.key, project.pool);
      if (usage.cooldownUntilMs !== undefined) cooldowns.push({ model: model.id, untilMs: usage.cooldownUntilMs });
      for (const dimension of ['rpm', 'tpm', 'rpd', 'ipm'] as const) {
        const limit = limits[dimension];
        if (limit === undefined) continue;
        const used = usage[dimension];
        const resetAtMs = dimension === 'rpd' ? day.endsAtMs : usage.newestAtMs !== undefined ? usage.newestAtMs + WINDOW_MS : at;
        rows.push({ model: model.id, dimension, limit, used, remaining: Math.max(0, limit - used), resetAtMs });
      }
    }
    return { rows, cooldowns };
  }
}

function hasLimits(l: Limits): boolean {
  return l.rpm !== undefined || l.tpm !== undefined || l.rpd !== undefined || l.ipm !== undefined;
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
    r.scope === 'key'
      ? `You exceeded the quota of your API key on this gateway (key ${r.keyId ?? '?'} of tenant ${r.tenantId}).`
      : r.scope === 'tenant'
      ? `You exceeded your quota on this gateway (tenant ${r.tenantId}).`
      : 'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.';
  return `${lead}\n* Quota exceeded for metric: ${quotaMetricFor(r)}, limit: ${r.limit}, model: ${r.model}\n${retry}`;
}
