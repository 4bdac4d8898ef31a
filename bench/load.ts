/**
 * The load generator: `concurrency` closed loops over one undici Pool, each sending the same
 * request and draining the whole answer before the next. Latency is to the answer's last byte
 * (an image is not delivered until then). Percentiles come from every sample, sorted.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface RequestSpec {
  method: 'POST';
  /** Path and query. */
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface LoadOptions {
  /** A Pool with at least `concurrency` connections, shared by a segment's warm-up and measurement. */
  pool: Pool;
  request: RequestSpec;
  /** A shorter 2xx answer counts as an error: a relay that truncates must not look fast. */
  minResponseBytes: number;
  concurrency: number;
  /**
   * The measurement window. Loops stop sending at its end; answers still in flight are drained
   * but count only toward `finishedTotal` (their ramp-down is not steady state), as autocannon does.
   */
  durationMs?: number;
  /** Or: each loop sends exactly this many requests (the in-flight memory scenario). */
  requestsPerLoop?: number;
}

export interface LoadResult {
  /** Successful answers completed within the window: throughput and latency come from these. */
  completed: number;
  errors: number;
  /** Status or error message of the first failure, for the report. */
  firstError?: string;
  /** The window (or, without one, the time until the last answer). */
  elapsedMs: number;
  /** Sorted ascending, of the answers in `completed`. */
  latenciesMs: number[];
  /** Every request finished, the drained ones included: what the processes' CPU time paid for. */
  finishedTotal: number;
}

export function loadPool(origin: string, concurrency: number): Pool {
  return new Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
}

export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sortedMs.length) - 1;
  return sortedMs[Math.min(sortedMs.length - 1, Math.max(0, rank))]!;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const { pool, request } = opts;
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let finishedTotal = 0;
  const startMs = performance.now();
  const deadlineMs = startMs + (opts.durationMs ?? Number.POSITIVE_INFINITY);

  const loop = async () => {
    for (let i = 0; opts.requestsPerLoop === undefined ? performance.now() < deadlineMs : i < opts.requestsPerLoop; i++) {
      const sentMs = performance.now();
      try {
        const answer = await pool.request({ method: request.method, path: request.path, headers: request.headers, body: request.body });
        let bytes = 0;
        for await (const chunk of answer.body) bytes += (chunk as Buffer).length;
        const doneMs = performance.now();
        finishedTotal++;
        if (answer.statusCode >= 200 && answer.statusCode < 300 && bytes >= opts.minResponseBytes) {
          if (doneMs <= deadlineMs) latenciesMs.push(doneMs - sentMs);
        } else {
          errors++;
          firstError ??= answer.statusCode < 300 ? `short answer: ${bytes} bytes` : `HTTP ${answer.statusCode}`;
        }
      } catch (e) {
        finishedTotal++;
        errors++;
        firstError ??= e instanceof Error ? e.message : String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  const elapsedMs = opts.durationMs ?? performance.now() - startMs;
  latenciesMs.sort((a, b) => a - b);
  return { completed: latenciesMs.length, errors, ...(firstError !== undefined ? { firstError } : {}), elapsedMs, latenciesMs, finishedTotal };
}
