/**
 * Where the model table and Google disagree, as the gateway has seen it: from the live check of
 * Google's model list (live-check.ts) and from the `modelStatus` Google puts on its answers.
 * Each finding is logged once when it appears (not at every check), kept for /readyz, the
 * metric and GET /admin/models, and dropped when a later check no longer finds it.
 */
import type { Logger } from 'pino';
import type { ModelStatus } from '../gemini/types.js';
import type { Clock } from '../time/clock.js';

/**
 * - not_listed: a model the table serves (not retired) that Google does not list, with
 *   generateContent, for the project's key: calls to it will fail.
 * - not_in_table: an image model Google lists that the table lacks (a new model to add).
 * - token_limits: Google's inputTokenLimit/outputTokenLimit differ from the table's.
 * - model_status: an answer said the model is LEGACY, DEPRECATED or RETIRED, or gave a retirementTime.
 */
export type FindingKind = 'not_listed' | 'not_in_table' | 'token_limits' | 'model_status';

export const FINDING_KINDS: readonly FindingKind[] = ['not_listed', 'not_in_table', 'token_limits', 'model_status'];

export interface ModelFinding {
  readonly kind: FindingKind;
  /** The project whose key saw it (for model_status: the first project whose answer carried it). */
  readonly project: string;
  readonly model: string;
  /** One line for a person: what differs and what it means. */
  readonly message: string;
  /** ISO instant it was first seen. */
  readonly since: string;
  /** token_limits: the table's figures. */
  readonly table?: { readonly inputTokenLimit: number; readonly outputTokenLimit: number };
  /** token_limits and not_in_table: what Google's list says. */
  readonly google?: { readonly displayName?: string; readonly inputTokenLimit?: number; readonly outputTokenLimit?: number };
  /** model_status: Google's words. */
  readonly modelStatus?: ModelStatus;
}

export type NewFinding = Omit<ModelFinding, 'since'>;

/** A project whose model list could not be read at its last check. */
export interface CheckFailure {
  readonly project: string;
  readonly at: string;
  readonly error: string;
}

/** What GET /admin/models shows of the checks. */
export interface LiveCheckView {
  /** When the last check of a project's list ended (null: none yet, only answers' modelStatus). */
  readonly checkedAt: string | null;
  readonly findings: readonly ModelFinding[];
  /** Projects whose list could not be read last time (their earlier findings stand). */
  readonly failures: readonly CheckFailure[];
}

export interface ModelFindingsOptions {
  logger: Logger;
  clock: Clock;
  /** The number of findings of a kind for a project changed (the metric); 0 when the last one went. */
  onCount?: (project: string, kind: FindingKind, count: number) => void;
  /** Each check of a project's list, by outcome (the metric). */
  onCheck?: (project: string, outcome: 'ok' | 'failed') => void;
}

/** Google's stages that mean "on the way out" (models-2026-11.md §5, §7). */
const ALARMING_STAGES = new Set(['LEGACY', 'DEPRECATED', 'RETIRED']);

/** How many findings /readyz spells out; the rest are counted (GET /admin/models has them all). */
const READINESS_DETAIL_MAX = 3;

const findingKey = (f: NewFinding) => `${f.kind}\u0000${f.model}`;

export class ModelFindings {
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #onCount: ModelFindingsOptions['onCount'];
  readonly #onCheck: ModelFindingsOptions['onCheck'];
  /** From the live check, per project: replaced by each successful check of that project. */
  readonly #listed = new Map<string, Map<string, ModelFinding>>();
  /** From answers, per model and stage: kept until restart (Google does not take a stage back). */
  readonly #statuses = new Map<string, ModelFinding>();
  readonly #failures = new Map<string, CheckFailure>();
  #checkedAtMs: number | undefined;
  /** Counts last reported through onCount, by `${project}\0${kind}`. */
  #counts = new Map<string, number>();

  constructor(opts: ModelFindingsOptions) {
    this.#logger = opts.logger;
    this.#clock = opts.clock;
    this.#onCount = opts.onCount;
    this.#onCheck = opts.onCheck;
  }

  /** A project's list was read and compared: these are its findings now. New ones are logged. */
  checked(project: string, found: readonly NewFinding[]): void {
    const nowMs = this.#clock.nowMs();
    this.#checkedAtMs = nowMs;
    this.#onCheck?.(project, 'ok');
    if (this.#failures.delete(project)) this.#logger.info({ project }, `model check: Google's model list is readable again for project ${project}`);
    const before = this.#listed.get(project) ?? new Map<string, ModelFinding>();
    const after = new Map<string, ModelFinding>();
    for (const f of found) {
      const key = findingKey(f);
      const earlier = before.get(key);
      // The first sighting's instant stays; the details are the latest check's.
      after.set(key, { ...f, since: earlier?.since ?? new Date(nowMs).toISOString() });
      if (!earlier) this.#logger.warn(logFields(f), f.message);
    }
    for (const [key, f] of before) {
      if (!after.has(key)) this.#logger.info(logFields(f), `model check: no longer found: ${f.message}`);
    }
    this.#listed.set(project, after);
    this.#recount();
  }

  /** A project's list could not be read: its earlier findings stand. Logged once per distinct error. */
  checkFailed(project: string, error: string): void {
    const nowMs = this.#clock.nowMs();
    this.#checkedAtMs = nowMs;
    this.#onCheck?.(project, 'failed');
    const earlier = this.#failures.get(project);
    if (earlier?.error !== error) {
      this.#logger.warn({ project, err: error }, `model check: could not read Google's model list for project ${project}: ${error}`);
    }
    this.#failures.set(project, { project, at: new Date(nowMs).toISOString(), error });
  }

  /**
   * Google's modelStatus on an answer of `model` (the canonical id called). LEGACY, DEPRECATED,
   * RETIRED or a retirementTime is a finding, logged once per model and stage; other stages
   * (STABLE, PREVIEW, …) are nothing to report. Called once per answer that carries one: a Map
   * lookup when already known.
   */
  modelStatus(project: string, model: string, status: ModelStatus): void {
    const stage = status.modelStage ?? '';
    if (!ALARMING_STAGES.has(stage) && status.retirementTime === undefined) return;
    const key = `${model}\u0000${stage}`;
    if (this.#statuses.has(key)) return;
    const finding: ModelFinding = {
      kind: 'model_status',
      project,
      model,
      message:
        `Google reports ${model} as ${stage || 'retiring'}` +
        (status.retirementTime ? ` (retirement ${status.retirementTime})` : '') +
        (status.message ? `: ${status.message}` : ''),
      since: new Date(this.#clock.nowMs()).toISOString(),
      modelStatus: { ...status },
    };
    this.#statuses.set(key, finding);
    this.#logger.warn(logFields(finding), finding.message);
    this.#recount();
  }

  /** Every current finding: the live check's (by project), then the answers'. */
  findings(): ModelFinding[] {
    return [...[...this.#listed.values()].flatMap((m) => [...m.values()]), ...this.#statuses.values()];
  }

  /** null until a check has ended or an answer has reported something. */
  view(): LiveCheckView | null {
    const findings = this.findings();
    if (this.#checkedAtMs === undefined && findings.length === 0) return null;
    return {
      checkedAt: this.#checkedAtMs === undefined ? null : new Date(this.#checkedAtMs).toISOString(),
      findings,
      failures: [...this.#failures.values()],
    };
  }

  /**
   * For /readyz: degraded with the findings spelled out, never not-ready. Every instance sees
   * the same Google, so failing readiness would pull them all for something none can fix.
   */
  readiness(): 'ok' | { degraded: string } {
    const findings = this.findings();
    if (findings.length === 0) return 'ok';
    const shown = findings.slice(0, READINESS_DETAIL_MAX).map((f) => f.message);
    const more = findings.length - shown.length;
    return { degraded: `${findings.length} model finding(s): ${shown.join('; ')}${more > 0 ? `; and ${more} more (GET /admin/models)` : ''}` };
  }

  #recount(): void {
    if (!this.#onCount) return;
    const counts = new Map<string, number>();
    for (const f of this.findings()) {
      const key = `${f.project}\u0000${f.kind}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const key of new Set([...this.#counts.keys(), ...counts.keys()])) {
      const n = counts.get(key) ?? 0;
      if (this.#counts.get(key) === n) continue;
      const [project, kind] = key.split('\u0000') as [string, FindingKind];
      this.#onCount(project, kind, n);
    }
    this.#counts = counts;
  }
}

function logFields(f: NewFinding): Record<string, unknown> {
  return {
    finding: f.kind,
    project: f.project,
    model: f.model,
    ...(f.table ? { table: f.table } : {}),
    ...(f.google ? { google: f.google } : {}),
    ...(f.modelStatus ? { modelStatus: f.modelStatus } : {}),
  };
}
