/**
 * The text-and-thinking allowance a budget hold gives one call of a model (#13.1): what the
 * model's recent calls actually produced, not its whole output limit. A Pro call may write
 * 32,768 tokens of text and thinking ($0.39), but image calls write a few dozen; holding the
 * limit refused a $0.134 image under a $0.40 budget.
 *
 * Per model, a rolling window of the text + thinking tokens of its last WINDOW successful calls
 * on this instance, fed by metering and seeded at start (in the background) from the ledger's
 * newest successful calls of that model.
 * The allowance is the window's 99th percentile (nearest rank), bounded by the model's
 * `outputTokenLimit`; with fewer than MIN_SAMPLES calls seen it is the model table's
 * `textAllowanceTokens`. A call that writes more than its allowance costs more than its hold:
 * the meter flags it `over_hold` and counts it (nanogate_budget_overshoot_*).
 */
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import type { ModelSpec } from '../models/catalog.js';
import type { UsageRecord } from './record.js';

/** Calls per model the percentile is taken over. */
export const ALLOWANCE_WINDOW = 1_000;
/** Below this many calls the table's figure stands: a percentile of a handful is noise. */
export const ALLOWANCE_MIN_SAMPLES = 20;
/** The percentile of the window held for each call. */
const PERCENTILE = 0.99;
/** The percentile is re-sorted after this many new samples, not on every call (it moves slowly). */
const RECOMPUTE_EVERY = 16;

class ModelWindow {
  readonly #ring: number[] = [];
  #next = 0;
  #sinceCompute = 0;
  #p99: number | undefined;

  add(tokens: number): void {
    if (this.#ring.length < ALLOWANCE_WINDOW) this.#ring.push(tokens);
    else this.#ring[this.#next] = tokens;
    this.#next = (this.#next + 1) % ALLOWANCE_WINDOW;
    this.#sinceCompute++;
  }

  get size(): number {
    return this.#ring.length;
  }

  /** Nearest-rank 99th percentile: the smallest value at least 99% of the window is at or below. */
  p99(): number {
    if (this.#p99 === undefined || this.#sinceCompute >= RECOMPUTE_EVERY) {
      const sorted = [...this.#ring].sort((a, b) => a - b);
      this.#p99 = sorted[Math.max(0, Math.ceil(PERCENTILE * sorted.length) - 1)] ?? 0;
      this.#sinceCompute = 0;
    }
    return this.#p99;
  }
}

/** A call that ran to its end with Google's counts: what the window learns from. */
export function countsForAllowance(r: Pick<UsageRecord, 'httpStatus' | 'usageMetadata' | 'flags'>): boolean {
  return r.httpStatus === 200 && r.usageMetadata !== null && r.usageMetadata !== undefined && !r.flags.includes('aborted') && !r.flags.includes('upstream_error');
}

export interface AllowanceView {
  model: string;
  allowanceTokens: number;
  source: 'table' | 'observed';
  samples: number;
}

export class TextAllowance {
  readonly #windows = new Map<string, ModelWindow>();

  /** One successful call's text + thinking tokens. */
  observe(modelId: string, tokens: number): void {
    if (!Number.isFinite(tokens) || tokens < 0) return;
    let w = this.#windows.get(modelId);
    if (!w) {
      w = new ModelWindow();
      this.#windows.set(modelId, w);
    }
    w.add(Math.ceil(tokens));
  }

  /** Text + thinking tokens a hold allows one call of `model`. */
  allowanceTokens(model: ModelSpec): number {
    const w = this.#windows.get(model.id);
    if (!w || w.size < ALLOWANCE_MIN_SAMPLES) return Math.min(model.textAllowanceTokens, model.outputTokenLimit);
    return Math.min(w.p99(), model.outputTokenLimit);
  }

  view(model: ModelSpec): AllowanceView {
    const samples = this.#windows.get(model.id)?.size ?? 0;
    return { model: model.id, allowanceTokens: this.allowanceTokens(model), source: samples >= ALLOWANCE_MIN_SAMPLES ? 'observed' : 'table', samples };
  }
}

/**
 * Seeds the windows from the ledger (oldest first, so the newest calls stay in the window). A
 * database that cannot answer leaves the table's figures in force: never a reason not to start.
 */
export async function seedTextAllowance(
  allowance: TextAllowance,
  deps: { db: Pick<Database, 'recentUsage'>; models: readonly ModelSpec[]; logger?: Logger },
): Promise<void> {
  for (const model of deps.models) {
    try {
      // The ledger's time index serves this newest-first and stops after the window's worth.
      const newestFirst = await deps.db.recentUsage({ limit: ALLOWANCE_WINDOW, model: model.id, httpStatus: { from: 200, to: 200 } });
      for (let i = newestFirst.length - 1; i >= 0; i--) {
        const r = newestFirst[i]!;
        if (countsForAllowance(r)) allowance.observe(model.id, r.outputTextTokens + r.thinkingTokens);
      }
    } catch (err) {
      deps.logger?.warn({ err: (err as Error).message, model: model.id }, "cannot read recent calls from the ledger: budget holds use the model table's text allowance until calls are seen");
      return;
    }
  }
}
