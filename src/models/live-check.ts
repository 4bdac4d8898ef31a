/**
 * The model table checked against Google's own list (issue #11, models-2026-11.md §7): at start
 * and every `models.liveCheckHours`, with each project's key, page through
 * `GET /v1beta/models?pageSize=1000` and compare. What differs goes to ModelFindings (logged
 * once, /readyz detail, a metric, GET /admin/models). The check never holds up the start and
 * never stops the gateway: Google unreachable is a failed check, reported and retried at the
 * next interval.
 */
import type { Logger } from 'pino';
import { parseGoogleError } from '../gemini/errors.js';
import type { Clock } from '../time/clock.js';
import type { AnswerBody } from '../upstream/answer-body.js';
import type { UpstreamClient } from '../upstream/client.js';
import { isRetired, type ModelSpec } from './catalog.js';
import type { ModelFindings, NewFinding } from './model-findings.js';

/** One entry of Google's models.list, as far as the check reads it (google-api.md §6). */
export interface ListedModel {
  /** Without the `models/` prefix. */
  readonly id: string;
  readonly displayName?: string;
  readonly inputTokenLimit?: number;
  readonly outputTokenLimit?: number;
  readonly supportedGenerationMethods?: readonly string[];
}

export interface CompareInput {
  project: string;
  /** Every model of the table, retired ones included. */
  table: readonly ModelSpec[];
  /** True for any name the gateway resolves (ids, aliases such as Google's own nano-banana-pro-preview). */
  knows: (name: string) => boolean;
  listed: readonly ListedModel[];
  nowMs: number;
}

/**
 * Google's list has no output-modality field: a model whose id says "image" or whose display
 * name says "Nano Banana", and that takes generateContent, is taken to make images. (Imagen
 * ids say "image" too, but are called with :predict, which the gateway does not serve.)
 */
export function isImageModel(m: ListedModel): boolean {
  const generates = m.supportedGenerationMethods === undefined || m.supportedGenerationMethods.includes('generateContent');
  return generates && (m.id.toLowerCase().includes('image') || (m.displayName ?? '').toLowerCase().includes('nano banana'));
}

/** What differs between the table and one project's list. Pure: the table and the list in, findings out. */
export function compareWithGoogle(input: CompareInput): NewFinding[] {
  const { project, nowMs } = input;
  const listed = new Map(input.listed.map((m) => [m.id, m]));
  const found: NewFinding[] = [];
  for (const spec of input.table) {
    // A retired model is not called under its own id: Google dropping it is expected.
    if (isRetired(spec, nowMs)) continue;
    const google = listed.get(spec.id);
    if (!google || (google.supportedGenerationMethods !== undefined && !google.supportedGenerationMethods.includes('generateContent'))) {
      found.push({
        kind: 'not_listed',
        project,
        model: spec.id,
        message: google
          ? `Google lists ${spec.id} without generateContent for project ${project}: calls to it will fail`
          : `${spec.id} is in the model table but Google does not list it for project ${project}: calls to it will fail (404)`,
      });
      continue;
    }
    if (
      (google.inputTokenLimit !== undefined && google.inputTokenLimit !== spec.inputTokenLimit) ||
      (google.outputTokenLimit !== undefined && google.outputTokenLimit !== spec.outputTokenLimit)
    ) {
      found.push({
        kind: 'token_limits',
        project,
        model: spec.id,
        message:
          `${spec.id} token limits differ for project ${project}: Google ${google.inputTokenLimit ?? '?'} in / ${google.outputTokenLimit ?? '?'} out, ` +
          `the table ${spec.inputTokenLimit} / ${spec.outputTokenLimit} (set them under models.override.${spec.id})`,
        table: { inputTokenLimit: spec.inputTokenLimit, outputTokenLimit: spec.outputTokenLimit },
        google: {
          ...(google.inputTokenLimit !== undefined ? { inputTokenLimit: google.inputTokenLimit } : {}),
          ...(google.outputTokenLimit !== undefined ? { outputTokenLimit: google.outputTokenLimit } : {}),
        },
      });
    }
  }
  for (const m of input.listed) {
    if (!isImageModel(m) || input.knows(m.id)) continue;
    found.push({
      kind: 'not_in_table',
      project,
      model: m.id,
      message: `Google lists image model ${m.id}${m.displayName ? ` (${m.displayName})` : ''} for project ${project}, which the model table lacks (add it under models.override to serve it)`,
      google: {
        ...(m.displayName !== undefined ? { displayName: m.displayName } : {}),
        ...(m.inputTokenLimit !== undefined ? { inputTokenLimit: m.inputTokenLimit } : {}),
        ...(m.outputTokenLimit !== undefined ? { outputTokenLimit: m.outputTokenLimit } : {}),
      },
    });
  }
  return found;
}

/** Timers, injected so that tests drive the interval by hand instead of sleeping. */
export interface IntervalTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const realTimers: IntervalTimers = {
  setInterval: (fn, ms) => {
    const t = setInterval(fn, ms);
    // The check alone never keeps the process alive.
    t.unref();
    return t;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export interface LiveCheckOptions {
  upstream: Pick<UpstreamClient, 'send'>;
  /** Projects without a key are skipped (their calls are refused anyway). */
  projects: ReadonlyArray<{ readonly id: string; readonly apiKey: string }>;
  /** The table as the gateway routes it. */
  models: { allModels(): readonly ModelSpec[]; lookup(name: string): ModelSpec | undefined };
  findings: ModelFindings;
  logger: Logger;
  clock: Clock;
  /** `models.liveCheckHours`: 0 checks only at start. */
  intervalHours: number;
  timers?: IntervalTimers;
  /** Google's maximum; a test may page smaller. */
  pageSize?: number;
}

/** A list longer than this many pages, or bodies bigger than this, is not Google's. */
const MAX_PAGES = 100;
const MAX_LIST_BYTES = 16 * 1024 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;

export class LiveModelCheck {
  readonly #o: LiveCheckOptions;
  readonly #timers: IntervalTimers;
  #interval: unknown;
  #running: Promise<void> | undefined;
  #abort = new AbortController();
  #stopped = false;

  constructor(opts: LiveCheckOptions) {
    this.#o = opts;
    this.#timers = opts.timers ?? realTimers;
  }

  /** Starts the first check without waiting for it, and the interval. */
  start(): void {
    if (this.#stopped) return;
    void this.runOnce();
    const hours = this.#o.intervalHours;
    // Node fires an interval past 2^31-1 ms (~24.8 days) after 1 ms instead: cap it there.
    if (hours > 0) this.#interval = this.#timers.setInterval(() => void this.runOnce(), Math.min(Math.round(hours * 3_600_000), MAX_TIMER_MS));
  }

  /** One check of every project; a call while one runs joins it. Never rejects. */
  runOnce(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#running ??= this.#runAll().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Settles once no check is running (tests wait on it; so does stop). */
  async idle(): Promise<void> {
    await this.#running;
  }

  /** Stops the interval and aborts a check in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#interval !== undefined) this.#timers.clearInterval(this.#interval);
    this.#interval = undefined;
    this.#abort.abort();
    await this.#running;
  }

  async #runAll(): Promise<void> {
    // Projects one after another: a handful of GETs every few hours needs no parallelism.
    for (const project of this.#o.projects) {
      if (this.#stopped) return;
      if (!project.apiKey) continue;
      try {
        const listed = await this.#list(project.apiKey);
        if (this.#stopped) return;
        this.#o.findings.checked(
          project.id,
          compareWithGoogle({
            project: project.id,
            table: this.#o.models.allModels(),
            knows: (name) => this.#o.models.lookup(name) !== undefined,
            listed,
            nowMs: this.#o.clock.nowMs(),
          }),
        );
      } catch (e) {
        if (this.#stopped) return;
        const text = e instanceof Error ? e.message : String(e);
        // An error that quotes the request must not carry the key into the log.
        this.#o.findings.checkFailed(project.id, text.replaceAll(project.apiKey, '[redacted]'));
      }
    }
  }

  /** Every page of Google's list for one key. */
  async #list(apiKey: string): Promise<ListedModel[]> {
    const pageSize = this.#o.pageSize ?? 1000;
    const models: ListedModel[] = [];
    const tokens = new Set<string>();
    let token: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const path = `/v1beta/models?pageSize=${pageSize}${token !== undefined ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
      const answer = await this.#o.upstream.send({ method: 'GET', path, apiKey, signal: this.#abort.signal });
      if (!answer.ok) {
        const google = parseGoogleError(answer.body)?.error;
        throw new Error(`Google answered ${answer.status}${google ? ` ${google.status}: ${google.message}` : ''}`);
      }
      const body = parseListPage(await readWhole(answer.body));
      models.push(...body.models);
      token = body.nextPageToken;
      if (token === undefined) return models;
      if (tokens.has(token)) throw new Error('Google repeated a page token of its model list');
      tokens.add(token);
    }
    throw new Error(`Google's model list ran past ${MAX_PAGES} pages`);
  }
}

function readWhole(body: AnswerBody): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    body.attach({
      data: (chunk) => {
        bytes += chunk.length;
        if (bytes > MAX_LIST_BYTES) {
          body.destroy(new Error(`Google's model list page is over ${MAX_LIST_BYTES} bytes`));
          return false;
        }
        chunks.push(chunk);
        return true;
      },
      end: () => resolve(Buffer.concat(chunks)),
      error: reject,
    });
  });
}

function parseListPage(body: Buffer): { models: ListedModel[]; nextPageToken?: string } {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new Error("Google's model list is not JSON");
  }
  if (!isRecord(json)) throw new Error("Google's model list is not an object");
  const raw = json['models'] ?? [];
  if (!Array.isArray(raw)) throw new Error("Google's model list has no models array");
  const models: ListedModel[] = [];
  for (const m of raw) {
    if (!isRecord(m) || typeof m['name'] !== 'string') continue;
    const methods = m['supportedGenerationMethods'];
    models.push({
      id: m['name'].replace(/^models\//, ''),
      ...(typeof m['displayName'] === 'string' ? { displayName: m['displayName'] } : {}),
      ...(typeof m['inputTokenLimit'] === 'number' ? { inputTokenLimit: m['inputTokenLimit'] } : {}),
      ...(typeof m['outputTokenLimit'] === 'number' ? { outputTokenLimit: m['outputTokenLimit'] } : {}),
      ...(Array.isArray(methods) ? { supportedGenerationMethods: methods.filter((x): x is string => typeof x === 'string') } : {}),
    });
  }
  const next = json['nextPageToken'];
  return { models, ...(typeof next === 'string' && next !== '' ? { nextPageToken: next } : {}) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
