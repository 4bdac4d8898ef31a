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
  /** Loops stop sending after this long; the answers in flight are finished and counted. */
  durationMs?: number;
  /** Or: each loop sends exactly this many requests (the in-flight memory scenario). */
  requestsPerLoop?: number;
}

export interface LoadResult {
  /** Successful answers. */
  completed: number;
  errors: number;
  /** Status or error message of the first failure, for the report. */
  firstError?: string;
  /** Until the last answer. */
  elapsedMs: number;
  /**
   * The sum over loops of each loop's successful answers over its own busy time (its first send
   * to its last answer). Counting answers in a fixed window instead is off by up to a whole wave
   * when a few large answers are in flight together (8 answers of 400 ms in a 1 s window: 16 or
   * 24), and dividing by the time to the very last answer charges the ramp-down as idle.
   */
  requestsPerSec: number;
  /** Sorted ascending, of the successful answers. */
  latenciesMs: number[];
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
  let requestsPerSec = 0;
  const startMs = performance.now();
  const deadlineMs = startMs + (opts.durationMs ?? Number.POSITIVE_INFINITY);

  const loop = async () => {
    let answered = 0;
    let lastDoneMs = startMs;
    for (let i = 0; opts.requestsPerLoop === undefined ? performance.now() < deadlineMs : i < opts.requestsPerLoop; i++) {
      const sentMs = performance.now();
      try {
        const answer = await pool.request({ method: request.method, path: request.path, headers: request.headers, body: request.body });
        let bytes = 0;
        for await (const chunk of answer.body) bytes += (chunk as Buffer).length;
        lastDoneMs = performance.now();
        if (answer.statusCode >= 200 && answer.statusCode < 300 && bytes >= opts.minResponseBytes) {
          latenciesMs.push(lastDoneMs - sentMs);
          answered++;
        } else {
          errors++;
          firstError ??= answer.statusCode < 300 ? `short answer: ${bytes} bytes` : `HTTP ${answer.statusCode}`;
        }
      } catch (e) {
        lastDoneMs = performance.now();
        errors++;
        firstError ??= e instanceof Error ? e.message : String(e);
      }
    }
    if (answered > 0) requestsPerSec += (answered * 1000) / (lastDoneMs - startMs);
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  const elapsedMs = performance.now() - startMs;
  latenciesMs.sort((a, b) => a - b);
  return { completed: latenciesMs.length, errors, ...(firstError !== undefined ? { firstError } : {}), elapsedMs, requestsPerSec, latenciesMs };
}

/** What one failed answer says, for the report: its status and the start of its body. */
export function describeFailure(statusCode: number, bytes: number, minResponseBytes: number, head: string): string {
  const text = head.replace(/\s+/g, ' ').trim().slice(0, 160);
  if (statusCode >= 200 && statusCode < 300) return `short answer: ${bytes} bytes, less than ${minResponseBytes}`;
  return text === '' ? `HTTP ${statusCode}` : `HTTP ${statusCode}: ${text}`;
}

export interface ProbeResult {
  completed: number;
  errors: number;
  /** The first failure with the start of its body: why a route is not relayed. */
  firstError?: string;
}

/**
 * `count` requests at once, each answer read whole: whether a route is relayed at all before it
 * is measured (a peer's route that fails would otherwise spin through failures for a segment).
 */
export async function probeRoute(pool: Pool, request: RequestSpec, count: number, minResponseBytes: number): Promise<ProbeResult> {
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  await Promise.all(
    Array.from({ length: count }, async () => {
      try {
        const answer = await pool.request({ method: request.method, path: request.path, headers: request.headers, body: request.body });
        let bytes = 0;
        const head: Buffer[] = [];
        for await (const chunk of answer.body) {
          if (bytes < 512) head.push(chunk as Buffer);
          bytes += (chunk as Buffer).length;
        }
        if (answer.statusCode >= 200 && answer.statusCode < 300 && bytes >= minResponseBytes) completed++;
        else {
          errors++;
          firstError ??= describeFailure(answer.statusCode, bytes, minResponseBytes, Buffer.concat(head).toString('utf8', 0, 512));
        }
      } catch (e) {
        errors++;
        firstError ??= e instanceof Error ? e.message : String(e);
      }
    }),
  );
  return { completed, errors, ...(firstError !== undefined ? { firstError } : {}) };
}
