import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { ERROR_STATUS, GatewayError } from '../errors/gateway-error.js';
import { parseGoogleError, projectRefusal } from '../gemini/errors.js';
import type { RequestEstimate } from '../gemini/request-inspect.js';
import type { ModelStatus } from '../gemini/types.js';
import { ResponseScanner, type Framing, type ScannedPart, type ScanOptions, type ScanSummary } from '../gemini/response-scanner.js';
import type { ModelSpec } from '../models/catalog.js';
import type { Admission, QuotaProject, QuotaService } from '../quota/quota-service.js';
import type { Caller } from '../tenants/registry.js';
import type { Clock } from '../time/clock.js';
import { PacificPeriods } from '../time/pacific-periods.js';
import type { AnswerBody } from '../upstream/answer-body.js';
import type { AttemptLabel, UpstreamClient, UpstreamResponse } from '../upstream/client.js';
import { BudgetService, type BudgetOwners, type BudgetReservation } from '../usage/budget.js';
import type { UsageLedger } from '../usage/ledger.js';
import { computeCost, holdCostNanoUsd, type CostBreakdown } from '../usage/pricing.js';
import { newRecordId, type UsageFlag, type UsageRecord } from '../usage/record.js';
import { countsForAllowance, TextAllowance } from '../usage/text-allowance.js';
import type { ProjectRefusals } from './project-refusals.js';
import { orderPool, type PoolSpec } from './pool-order.js';
import { DEFAULT_SIGNATURE_TTL_MS, filePin, signatureDigests, signaturePin, unreachablePin, type Pin, type PinnedFile } from './project-affinity.js';
import type { SignaturePins } from '../quota/store.js';
import { hasCredentials, modelCallOf } from './model-call.js';
import type { VertexEndpoint } from '../vertex/vertex-endpoint.js';

/** A configured Google project: its quota identity plus the key calls are made with. */
export interface ProjectRuntime extends QuotaProject {
  /** The Gemini API key; '' when unset, and for a Vertex AI project. */
  apiKey: string;
  /** A Vertex AI project (#17.3): its calls go to its endpoint with its access token, not to the Gemini API. */
  vertex?: VertexEndpoint;
}

/** A pool of configured projects (#17): a tenant naming it is admitted on the first with room. */
export interface PoolRuntime extends PoolSpec<ProjectRuntime> {
  /** How long which project made a thought signature is remembered (#17.5); default DEFAULT_SIGNATURE_TTL_MS. */
  signatureTtlMs?: number;
}

export type GenerateAction = 'generateContent' | 'streamGenerateContent';

export interface CallRequest {
  requestId: string;
  caller: Caller;
  project: ProjectRuntime;
  model: ModelSpec;
  modelAsked: string;
  /** Ledger route name: 'native.generateContent', 'openai.generations', ... */
  route: string;
  apiVersion: 'v1beta' | 'v1';
  action: GenerateAction;
  framing: Framing;
  /** The body Google receives, byte for byte. */
  body: Buffer;
  estimate: RequestEstimate;
  user?: string;
  /**
   * Files API objects the body names, with the project each was uploaded to (the face looked
   * them up): the call goes to that project or is refused (#17.5).
   */
  files?: readonly PinnedFile[];
  captureImages?: ScanOptions['captureImages'];
  signal: AbortSignal;
  /** The request's running totals, for its log line: the face hands in one per request (n calls add up). */
  tally?: CallTally;
}

/** What one request's upstream calls added up to (its log line, #12). */
export interface CallTally {
  calls: number;
  /** Attempts sent to Google, retries included. */
  attempts: number;
  inputTokens: number;
  /** Output tokens of every kind: image, text, thinking. */
  outputTokens: number;
  images: number;
  costNanoUsd: number;
  /** The project the request's files or thought signatures tied it to (#17.5), when they did. */
  pin?: Pin;
}

export function newCallTally(): CallTally {
  return { calls: 0, attempts: 0, inputTokens: 0, outputTokens: 0, images: 0, costNanoUsd: 0 };
}

export interface CallOutcome {
  summary: ScanSummary | undefined;
  cost: CostBreakdown;
  record: UsageRecord;
  /**
   * When a budget applies: the least any of the call's budgets has left once it settled, as this
   * instance saw it (the hold's view, with the hold replaced by the real cost).
   */
  budgetRemainingNanoUsd?: bigint;
}

interface StartedBase {
  status: number;
  headers: IncomingHttpHeaders;
  admission: Admission;
  /** When a budget applies: the least any of the call's budgets had left with this call's hold taken. */
  budgetRemainingNanoUsd?: bigint;
  /** Settles once the call is fully metered (after the body ends, or at once for errors). */
  outcome: Promise<CallOutcome>;
}

/** A successful answer whose body the caller relays (or consumes); the scanner sees it as it passes. */
export interface StreamingAnswer extends StartedBase {
  ok: true;
  body: AnswerBody;
}

/** A Google error answer, read whole: callers relay or translate it. */
export interface ErrorAnswer extends StartedBase {
  ok: false;
  body: Buffer;
  retryAfterMs?: number;
}

export type StartedCall = StreamingAnswer | ErrorAnswer;

export interface RelayDeps {
  upstream: UpstreamClient;
  quota: QuotaService;
  budgets: BudgetService;
  ledger: UsageLedger;
  clock: Clock;
  logger: Logger;
  onUpstreamCall?: (model: string, status: number) => void;
  /** Every attempt sent to Google, retries included (Google counts each against RPM). */
  onUpstreamAttempt?: (model: string, outcome: AttemptLabel) => void;
  onRecord?: (record: UsageRecord) => void;
  /** Google's modelStatus on an answer (models-2026-11.md §5): `model` is the canonical id called. */
  onModelStatus?: (project: string, model: string, status: ModelStatus) => void;
  /** Where refusals of the gateway's own project go (operator alert, metric, readiness). */
  projectRefusals?: ProjectRefusals;
  /**
   * Budget holds (#13.1): `sized` (default) holds the call's input, its images and a text and
   * thinking allowance learned from recent calls (`textAllowance`); `strict` holds the worst case,
   * the model's whole output limit of text and thinking.
   */
  holds?: 'sized' | 'strict';
  textAllowance?: TextAllowance;
  /** A call that cost more than its hold (flagged `over_hold`): by how much. */
  onOvershoot?: (record: UsageRecord, excessNanoUsd: number) => void;
  /** Config `pools` by id (#17); a tenant whose `poolId` is set is admitted over its pool. */
  pools?: ReadonlyMap<string, PoolRuntime>;
  /** Draws a weighted pool's order; default Math.random. */
  random?: () => number;
  /** A call Google refused (429, or 503 after retries) on `from` was tried again on `to` (#17.2). */
  onSpill?: (from: string, to: string, model: string, status: number) => void;
  /**
   * Which project of a pool made each thought signature (#17.5): remembered as answers pass, looked
   * up when a request hands signatures back. Absent: signatures pin nothing (files still do).
   */
  pins?: SignaturePins;
}

/**
 * One upstream call, the same for every face (no side doors): budget reservation and quota
 * admission before anything leaves, the call itself, then metering as the answer streams past
 * (quota correction, budget settlement, one usage record).
 */
export class GeminiRelay {
  readonly #d: RelayDeps;
  readonly #periods = new PacificPeriods();
  readonly #allowance: TextAllowance;

  /** Calls started and not yet metered; drain() waits for them at shutdown. */
  #active = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(deps: RelayDeps) {
    this.#d = deps;
    this.#allowance = deps.textAllowance ?? new TextAllowance();
  }

  /**
   * Starts one call. Its usage record is handed to the ledger before `outcome` settles, and
   * drain() waits for that, so a shutdown that closes the ledger after drain() loses no record
   * of a call that reached Google (#10.6).
   */
  async start(req: CallRequest): Promise<StartedCall> {
    this.#active++;
    let started: StartedCall | undefined;
    try {
      started = await this.#start(req);
      return started;
    } finally {
      if (started) started.outcome.then(this.#leave, this.#leave);
      else this.#leave();
    }
  }

  /** Calls started and not yet metered. */
  get inFlight(): number {
    return this.#active;
  }

  /**
   * Resolves once every call started so far has been metered, or after `timeoutMs` (false then:
   * some call is still running; its record may be lost if the ledger closes).
   */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.#active === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  readonly #leave = (): void => {
    if (--this.#active > 0) return;
    for (const wake of this.#idleWaiters.splice(0)) wake();
  };

  async #start(req: CallRequest): Promise<StartedCall> {
    const d = this.#d;
    const poolId = req.caller.tenant.poolId;
    const pool = poolId !== undefined ? d.pools?.get(poolId) : undefined;
    if (!pool && !hasCredentials(req.project)) {
      throw new GatewayError('UPSTREAM_UNAVAILABLE', `Project ${req.project.id} has no Google API key configured; the operator must set it (GEMINI_API_KEY).`);
    }
    if (d.ledger.isFull()) {
      throw new GatewayError('LEDGER_BACKLOG_FULL', 'Usage records cannot be written right now; the gateway refuses new calls until its backlog drains.');
    }
    const startedAtMs = d.clock.nowMs();
    // Files and thought signatures keep a call on the project that made them (#17.5). Nothing to
    // look up, and no store round trip, for a request without them.
    const pinned = req.files !== undefined || req.estimate.signatures !== undefined ? await this.#pinned(req, pool, startedAtMs) : undefined;
    if (pinned) {
      req = pinned.project === req.project ? req : { ...req, project: pinned.project };
      if (req.tally) req.tally.pin = pinned.pin;
    }
    const reservation = await this.#reserveBudget(req, startedAtMs);
    let admitted: { req: CallRequest; admission: Admission };
    try {
      admitted = await this.#admit(req, pool, startedAtMs, pinned?.project);
    } catch (e) {
      // Refused by the gateway itself: nothing is counted, the reservation is returned.
      if (reservation) await d.budgets.settle(reservation, 0);
      throw e;
    }
    // A pinned call is never spilled: another project would refuse its files or signatures.
    return this.#call(admitted.req, admitted.admission, reservation, startedAtMs, pool, pinned !== undefined);
  }

  /**
   * The project the request's files, else its latest known thought signature, tie it to
   * (project-affinity.ts); undefined when nothing does. Refused (nothing counted) when that
   * project is not one the tenant's calls go to, or cannot be called. Signatures are looked up
   * only for a pool of two or more projects: one round trip, for all of them.
   */
  async #pinned(req: CallRequest, pool: PoolRuntime | undefined, nowMs: number): Promise<{ project: ProjectRuntime; pin: Pin } | undefined> {
    const files = req.files ?? [];
    const candidates = pool ? pool.members.map((m) => m.project) : [req.project];
    let pin = filePin(files);
    const signatures = req.estimate.signatures;
    if (!pin && signatures && pool && candidates.length > 1 && this.#d.pins) {
      pin = signaturePin(await this.#d.pins.signaturePins({ poolId: pool.id, digests: signatureDigests(signatures), nowMs }));
    }
    if (!pin) return undefined;
    const projectId = pin.projectId;
    const project = candidates.find((p) => p.id === projectId);
    if (!project) throw unreachablePin(pin, files, pool ? `pool ${pool.id}` : `project ${req.project.id}`);
    if (!hasCredentials(project)) {
      throw new GatewayError('UPSTREAM_UNAVAILABLE', `Project ${project.id}, where this request's ${pin.by === 'file' ? 'files are' : 'thought signatures were made'}, has no Google API key configured; the operator must set it.`);
    }
    return { project, pin };
  }

  /** Remembers the signatures an answer carried as `projectId`'s; a failure is logged, never the call's. */
  async #pinSignatures(pool: PoolRuntime, projectId: string, signatures: readonly string[], requestId: string): Promise<void> {
    const nowMs = this.#d.clock.nowMs();
    try {
      await this.#d.pins!.pinSignatures({ poolId: pool.id, digests: signatureDigests(signatures), projectId, untilMs: nowMs + (pool.signatureTtlMs ?? DEFAULT_SIGNATURE_TTL_MS), nowMs });
    } catch (err) {
      this.#d.logger.warn({ err, requestId, projectId }, "could not remember which project made an answer's thought signatures");
    }
  }

  /**
   * Admission on the call's project, or over its tenant's pool (#17): then on the first project
   * with room, which the returned request names. `only`: that pool project alone (a retry of an
   * attempt it already serves), with the tenant still counted pool-wide.
   */
  async #admit(req: CallRequest, pool: PoolRuntime | undefined, nowMs: number, only?: ProjectRuntime): Promise<{ req: CallRequest; admission: Admission }> {
    const d = this.#d;
    const input = {
      tenantId: req.caller.tenant.id,
      ...(req.caller.tenant.limits ? { tenantLimits: req.caller.tenant.limits } : {}),
      // The key's own limits, in the same atomic admission as its tenant's and project's.
      ...(req.caller.key?.limits ? { key: { id: req.caller.keyId, limits: req.caller.key.limits } } : {}),
      model: req.model,
      estimatedInputTokens: req.estimate.inputTokens,
      images: req.estimate.outputImages,
      nowMs,
    };
    if (!pool) return { req, admission: await d.quota.admit({ ...input, project: req.project }) };
    // A project without its key is left out of the pool, as if it had no room.
    const projects = (only ? [only] : orderPool(pool, d.random ?? Math.random)).filter(hasCredentials);
    if (projects.length === 0) {
      throw new GatewayError('UPSTREAM_UNAVAILABLE', `No project of pool ${pool.id} has a Google API key configured; the operator must set them.`);
    }
    const admission = await d.quota.admitPool({ ...input, pool: { id: pool.id, projects } });
    const project = projects.find((p) => p.id === admission.projectId) ?? req.project;
    return { req: project === req.project ? req : { ...req, project }, admission };
  }

  /** `noSpill`: no other project may take the call (it spilled once already, or it is pinned, #17.5). */
  async #call(req: CallRequest, admission: Admission, reservation: BudgetReservation | undefined, startedAtMs: number, pool: PoolRuntime | undefined, noSpill = false): Promise<StartedCall> {
    const d = this.#d;
    /** Admissions of retried attempts: they returned no image, whatever the last one did. */
    const retryAdmissions: Admission[] = [];

    const meter = (status: number, summary: ScanSummary | undefined, flags: UsageFlag[]) =>
      this.#meter(req, { admission, retryAdmissions, reservation, startedAtMs, status, summary, flags });
    const budgetRemaining = reservation ? { budgetRemainingNanoUsd: reservation.remainingNanoUsd } : {};
    let answer;
    try {
      const target = modelCallOf(req.project, d.upstream, { apiVersion: req.apiVersion, modelId: req.model.id, method: req.action, sse: req.framing === 'sse' });
      answer = await target.upstream.send({
        method: 'POST',
        path: target.path,
        ...target.credential,
        body: req.body,
        signal: req.signal,
        onAttempt: this.#attemptCounter(req.model.id, req.tally),
        // Google counts every attempt against the project's RPM and RPD, retries included: so
        // does the gateway. A retry the quota has no room for is not made; the last answer stands.
        beforeRetry: async () => {
          try {
            retryAdmissions.push((await this.#admit(req, pool, d.clock.nowMs(), req.project)).admission);
            return true;
          } catch (e) {
            if (e instanceof GatewayError) return false;
            throw e;
          }
        },
      });
    } catch (e) {
      const status = e instanceof GatewayError ? ERROR_STATUS[e.code] : 502;
      await meter(status, undefined, [req.signal.aborted ? 'aborted' : 'upstream_error']);
      throw e;
    }
    d.onUpstreamCall?.(req.model.id, answer.status);

    if (!answer.ok) {
      const refused = this.#refusedProject(req.project, answer);
      if (refused) {
        // Not a rate limit (a prepay 429 starts no cool-down) and not the tenant's: a 503 of ours.
        await meter(answer.status, undefined, ['upstream_error']);
        throw refused;
      }
      // In a pool, a 503 that outlived its retries cools the project down as a 429 does (#17.2).
      const spillable = pool !== undefined && (answer.status === 429 || answer.status === 503);
      if (answer.status === 429 || spillable) {
        await d.quota.startCooldown(req.project.id, req.model.id, answer.retryAfterMs, d.clock.nowMs(), req.project.pool);
      }
      if (spillable && !noSpill) {
        // Once more on the next project with room (the cool-down just set takes this one out).
        const next = await this.#admit(req, pool, d.clock.nowMs()).catch((e: unknown) => {
          if (e instanceof GatewayError && e.code === 'QUOTA_EXHAUSTED') return undefined;
          throw e;
        });
        if (next) {
          // The refused call stays counted on its project (Google counted it) with a record of its
          // own; the budget hold moves on to the call that replaces it.
          await this.#meter(req, { admission, retryAdmissions, reservation: undefined, startedAtMs, status: answer.status, summary: undefined, flags: ['upstream_error'] });
          d.onSpill?.(req.project.id, next.req.project.id, req.model.id, answer.status);
          return this.#call(next.req, next.admission, reservation, d.clock.nowMs(), pool, true);
        }
      }
      const outcome = meter(answer.status, undefined, ['upstream_error']);
      await outcome;
      return {
        ok: false,
        status: answer.status,
        headers: answer.headers,
        body: answer.body,
        admission,
        outcome,
        ...budgetRemaining,
        ...(answer.retryAfterMs !== undefined ? { retryAfterMs: answer.retryAfterMs } : {}),
      };
    }

    d.projectRefusals?.accepted(req.project.id);
    // In a pool of two or more projects, every signature the answer carries is remembered as this
    // project's (#17.5), before the client has the answer's end: its next turn finds the pin.
    const signed: string[] | undefined = pool && pool.members.length > 1 && d.pins ? [] : undefined;
    const scanner = new ResponseScanner({
      framing: req.framing,
      captureImages: req.captureImages ?? false,
      ...(signed ? { captureSignatures: true, onPart: (part: ScannedPart) => void (part.thoughtSignature !== undefined && signed.push(part.thoughtSignature)) } : {}),
    });
    const body = answer.body;
    const outcome = new Promise<CallOutcome>((resolve, reject) => {
      let settled = false;
      const finish = (flags: UsageFlag[]) => {
        if (settled) return;
        settled = true;
        const summary = scanner.end();
        const pinning = signed?.length ? this.#pinSignatures(pool!, req.project.id, signed, req.requestId) : undefined;
        Promise.all([meter(answer.status, summary, req.framing === 'json' ? flags : [...flags, 'streamed']), pinning]).then(([o]) => resolve(o), reject);
      };
      // The scanner sees each chunk as it arrives, beside the consumer: no stream stage between.
      body.observe({
        data: (chunk) => scanner.write(chunk),
        end: () => finish([]),
        error: () => finish(['aborted']),
      });
    });
    // Metering failures are logged by #meter; never an unhandled rejection.
    outcome.catch(() => {});
    return { ok: true, status: answer.status, headers: answer.headers, body, admission, outcome, ...budgetRemaining };
  }

  /**
   * countTokens: relayed as is, neither admitted against quota nor metered (contract §5), but
   * its attempts are counted and a refusal of the project is the operator's, as for every call.
   */
  async countTokens(req: { project: ProjectRuntime; model: ModelSpec; apiVersion: string; body: Buffer; signal: AbortSignal; tally?: CallTally }): Promise<UpstreamResponse> {
    const target = modelCallOf(req.project, this.#d.upstream, { apiVersion: req.apiVersion, modelId: req.model.id, method: 'countTokens', sse: false });
    const answer = await target.upstream.send({
      method: 'POST',
      path: target.path,
      ...target.credential,
      body: req.body,
      signal: req.signal,
      onAttempt: this.#attemptCounter(req.model.id, req.tally),
    });
    if (answer.ok) this.#d.projectRefusals?.accepted(req.project.id);
    else {
      const refused = this.#refusedProject(req.project, answer);
      if (refused) throw refused;
    }
    return answer;
  }

  #attemptCounter(model: string, tally: CallTally | undefined): (outcome: AttemptLabel) => void {
    return (outcome) => {
      if (tally) tally.attempts++;
      this.#d.onUpstreamAttempt?.(model, outcome);
    };
  }

  /** The 503 to answer when Google refused the project itself (its key, permission, credit); the operator is told. */
  #refusedProject(project: ProjectRuntime, answer: Extract<UpstreamResponse, { ok: false }>): GatewayError | undefined {
    const refusal = projectRefusal(answer.status, parseGoogleError(answer.body));
    if (!refusal) return undefined;
    this.#d.projectRefusals?.refused(project.id, project.apiKey, refusal);
    return new GatewayError('UPSTREAM_PROJECT_REFUSED', "The gateway's Google project cannot be used right now; its operator has been alerted.");
  }

  async #reserveBudget(req: CallRequest, nowMs: number): Promise<BudgetReservation | undefined> {
    const owners: BudgetOwners = {
      tenantId: req.caller.tenant.id,
      tenantBudget: req.caller.tenant.budget,
      keyId: req.caller.keyId,
      keyBudget: req.caller.key?.budget,
    };
    if (!BudgetService.applies(owners)) return undefined;
    return this.#d.budgets.reserve({ ...owners, amountNanoUsd: this.holdNanoUsd(req, nowMs), nowMs });
  }

  /**
   * What a call's budget hold is (#13.1): its input estimate, its images (candidateCount of them)
   * at the requested size, and its text and thinking allowance: the request's maxOutputTokens when
   * smaller than the model's allowance (what recent calls of the model wrote, TextAllowance), or
   * the model's whole output limit under `budget.holds: strict`.
   */
  holdNanoUsd(req: Pick<CallRequest, 'model' | 'estimate'> & Partial<Pick<CallRequest, 'project'>>, nowMs: number): number {
    const model = req.model;
    const textTokens =
      this.#d.holds === 'strict'
        ? model.outputTokenLimit
        : Math.min(req.estimate.maxOutputTokens ?? Number.POSITIVE_INFINITY, this.#allowance.allowanceTokens(model));
    return holdCostNanoUsd(model, {
      atMs: nowMs,
      // A pool's call holds at its first project's prices (the one it names before admission).
      ...(req.project?.vertex ? { vertex: true } : {}),
      ...(req.estimate.imageSize ? { imageSize: req.estimate.imageSize } : {}),
      estimatedInputTokens: req.estimate.inputTokens,
      images: req.estimate.outputImages,
      textTokens,
    });
  }

  async #meter(
    req: CallRequest,
    m: {
      admission: Admission;
      retryAdmissions: readonly Admission[];
      reservation: BudgetReservation | undefined;
      startedAtMs: number;
      status: number;
      summary: ScanSummary | undefined;
      flags: UsageFlag[];
    },
  ): Promise<CallOutcome> {
    const d = this.#d;
    const nowMs = d.clock.nowMs();
    const usage = m.summary?.usageMetadata;
    const imagesReturned = m.summary?.imageCount ?? 0;
    const cost = computeCost({
      model: req.model,
      // Priced at the row in force when the call started, whatever happens while it runs.
      atMs: m.startedAtMs,
      ...(req.project.vertex ? { vertex: true } : {}),
      usage,
      imagesReturned,
      ...(req.estimate.imageSize ? { imageSize: req.estimate.imageSize } : {}),
      // Only a successful answer without counts falls back to the estimate; a failed call bills nothing.
      ...(m.status === 200 && m.summary ? { estimatedInputTokens: req.estimate.inputTokens } : {}),
    });
    const flags = new Set<UsageFlag>(m.flags);
    if (cost.estimated) flags.add('estimated');
    if (m.status === 200 && imagesReturned === 0) flags.add('no_image');
    if (m.summary?.error) flags.add('upstream_error');
    // It cost more than it held: only by the text and thinking beyond its allowance (or input
    // beyond the estimate), which the README bounds.
    const excessNanoUsd = m.reservation ? cost.costNanoUsd - Number(m.reservation.amountNanoUsd) : 0;
    if (excessNanoUsd > 0) flags.add('over_hold');

    const details = (list: { modality?: string; tokenCount?: number }[] | undefined, modality: string) =>
      (list ?? []).filter((x) => x.modality === modality).reduce((s, x) => s + (x.tokenCount ?? 0), 0);
    const record: UsageRecord = {
      id: newRecordId(m.startedAtMs),
      timeMs: m.startedAtMs,
      day: this.#periods.day(m.startedAtMs).key,
      requestId: req.requestId,
      tenantId: req.caller.tenant.id,
      keyId: req.caller.keyId,
      projectId: req.project.id,
      route: req.route,
      modelAsked: req.modelAsked,
      model: req.model.id,
      imageSize: req.estimate.imageSize ?? (req.model.imageSizes.length ? req.model.defaultImageSize : null),
      imagesReturned,
      inputTokens: cost.inputTokens,
      inputTextTokens: details(usage?.promptTokensDetails, 'TEXT'),
      inputImageTokens: details(usage?.promptTokensDetails, 'IMAGE'),
      outputImageTokens: cost.outputImageTokens,
      outputTextTokens: cost.outputTextTokens,
      thinkingTokens: cost.thinkingTokens,
      costNanoUsd: cost.costNanoUsd,
      httpStatus: m.status,
      finishReason: m.summary?.finishReasons[0] ?? m.summary?.blockReason ?? null,
      latencyMs: Math.max(0, nowMs - m.startedAtMs),
      user: req.user ?? null,
      batch: false,
      flags: [...flags],
      usageMetadata: usage ?? null,
      priceVersion: cost.priceVersion,
    };
    d.ledger.record(record);
    d.onRecord?.(record);
    if (excessNanoUsd > 0) d.onOvershoot?.(record, excessNanoUsd);
    if (countsForAllowance(record)) this.#allowance.observe(record.model, record.outputTextTokens + record.thinkingTokens);
    if (m.summary?.modelStatus) d.onModelStatus?.(req.project.id, req.model.id, m.summary.modelStatus);
    if (req.tally) {
      const t = req.tally;
      t.calls++;
      t.inputTokens += record.inputTokens;
      t.outputTokens += record.outputImageTokens + record.outputTextTokens + record.thinkingTokens;
      t.images += record.imagesReturned;
      t.costNanoUsd += record.costNanoUsd;
    }

    const settleWork: Promise<unknown>[] = [];
    if (m.reservation) settleWork.push(d.budgets.settle(m.reservation, cost.costNanoUsd));
    // TPM from Google's promptTokenCount, IPM from the images that actually came back (#13.7).
    settleWork.push(d.quota.correct(m.admission, { ...(usage?.promptTokenCount !== undefined ? { inputTokens: usage.promptTokenCount } : {}), images: imagesReturned }, nowMs));
    for (const retried of m.retryAdmissions) settleWork.push(d.quota.correct(retried, { images: 0 }, nowMs));
    const results = await Promise.allSettled(settleWork);
    for (const r of results) {
      if (r.status === 'rejected') d.logger.warn({ err: r.reason, requestId: req.requestId }, 'settling quota or budget failed');
    }
    if (!m.reservation) return { summary: m.summary, cost, record };
    const left = m.reservation.remainingNanoUsd + m.reservation.amountNanoUsd - BigInt(cost.costNanoUsd);
    return { summary: m.summary, cost, record, budgetRemainingNanoUsd: left > 0n ? left : 0n };
  }
}
