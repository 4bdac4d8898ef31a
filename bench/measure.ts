/**
 * One measured segment: warm-up, then a window of load on one target while the proxy's CPU time
 * and RSS are read from /proc, with what other processes on the machine did meanwhile.
 */
import { performance } from 'node:perf_hooks';
import { loadPool, percentile, runLoad } from './load.js';
import { cpuTimeMs, machineCpuTimeMs, RssSampler } from './proc-stats.js';
import type { MemorySegment, Segment } from './report.js';
import { CONCURRENCY, minAnswerBytes, RSS_CONCURRENCY, type BodyKind, type Face, type RequestBook, type Target } from './scenarios.js';
import type { BenchStack } from './stack.js';

export interface Timing {
  warmupMs: number;
  measureMs: number;
}

/** Other processes' CPU, in percent of one core, above which a segment is flagged. */
export const FOREIGN_CPU_WARN_PCT = 10;

function cpuOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return cpuTimeMs(pid);
  } catch {
    // It died during the segment: reported as such, its figures left out.
    return Number.NaN;
  }
}

/**
 * CPU the machine spent outside the bench's own processes. The machine is shared (2 cores):
 * anything else running makes every figure of the segment suspect, so it is reported with it.
 */
class ForeignCpu {
  readonly #start: ReadonlyArray<readonly [number, number]>;
  readonly #machine0 = machineCpuTimeMs();
  readonly #startMs = performance.now();

  constructor(pids: readonly number[]) {
    this.#start = pids.map((pid) => [pid, cpuOf(pid)] as const);
  }

  /** Percent of one core used by other processes since construction. */
  percentOfCore(): number {
    // A process that died meanwhile counts for nothing: its last CPU reading is gone with it.
    const oursMs = this.#start.reduce((sum, [pid, before]) => {
      const delta = cpuOf(pid) - before;
      return sum + (Number.isFinite(delta) ? delta : 0);
    }, 0);
    const foreignMs = machineCpuTimeMs() - this.#machine0 - oursMs;
    return Math.max(0, (100 * foreignMs) / (performance.now() - this.#startMs));
  }
}

export async function measureSegment(
  stack: BenchStack,
  book: RequestBook,
  timing: Timing,
  at: { run: number; face: Face; body: BodyKind; target: Target },
  progress: (text: string) => void,
): Promise<Segment> {
  const { run, face, body, target } = at;
  const request = book.request(face, body, target);
  const proxy = target === 'direct' ? undefined : target === 'floor' ? stack.floor : stack.gateway;
  const concurrency = CONCURRENCY[body];
  const minResponseBytes = minAnswerBytes(body);
  const pool = loadPool(proxy?.url ?? stack.mock.url, concurrency);
  try {
    await runLoad({ pool, request, concurrency, durationMs: timing.warmupMs, minResponseBytes });
    const proxyCpu0 = cpuOf(proxy?.pid);
    const mockCpu0 = cpuTimeMs(stack.mock.pid);
    const loadCpu0 = cpuTimeMs(process.pid);
    const foreign = new ForeignCpu(stack.pids());
    const sampler = proxy ? new RssSampler(proxy.pid) : undefined;
    const result = await runLoad({ pool, request, concurrency, durationMs: timing.measureMs, minResponseBytes });
    const peakRssBytes = sampler?.stop();
    const proxyCpuMs = cpuOf(proxy?.pid) - proxyCpu0;
    const mockCpuMs = cpuOf(stack.mock.pid) - mockCpu0;
    const loadCpuMs = cpuTimeMs(process.pid) - loadCpu0;
    const foreignCpuPct = foreign.percentOfCore();
    const gatewayDeath = await stack.checkAfterSegment(run, `${body} ${face} ${target}`);
    // Only the gateway's own segment loses its figures; another target's are sound.
    const death = target === 'gateway' ? gatewayDeath : undefined;
    if (death !== undefined) result.firstError = `gateway died: ${death}`;
    // The CPU readings cover the drained answers too, so they are divided among all of them.
    const requests = Math.max(1, result.finishedTotal);
    const segment: Segment = {
      run,
      face,
      body,
      target,
      concurrency,
      completed: result.completed,
      errors: result.errors,
      ...(result.firstError !== undefined ? { firstError: result.firstError } : {}),
      elapsedMs: result.elapsedMs,
      p50Ms: percentile(result.latenciesMs, 50),
      p99Ms: percentile(result.latenciesMs, 99),
      requestsPerSec: (result.completed * 1000) / result.elapsedMs,
      ...(sampler && peakRssBytes !== undefined && death === undefined
        ? { cpuMsPerRequest: proxyCpuMs / requests, peakRssMb: peakRssBytes / 2 ** 20, startRssMb: sampler.startBytes / 2 ** 20 }
        : {}),
      mockCpuMsPerRequest: mockCpuMs / requests,
      loadGeneratorCpuMsPerRequest: loadCpuMs / requests,
      foreignCpuPct,
    };
    progress(
      `  ${body.padEnd(4)} ${face.padEnd(21)} ${target.padEnd(7)} c=${String(concurrency).padEnd(2)} ` +
        `${segment.requestsPerSec.toFixed(1).padStart(7)} req/s  p50 ${segment.p50Ms.toFixed(1).padStart(7)} ms  ` +
        `p99 ${segment.p99Ms.toFixed(1).padStart(7)} ms  errors ${segment.errors}` +
        (segment.cpuMsPerRequest !== undefined ? `  cpu ${segment.cpuMsPerRequest.toFixed(2)} ms/req  rss ${segment.peakRssMb!.toFixed(0)} MB` : '') +
        (foreignCpuPct >= FOREIGN_CPU_WARN_PCT ? `  [other processes used ${foreignCpuPct.toFixed(0)}% of a core]` : '') +
        (segment.firstError ? `  (${segment.firstError})` : ''),
    );
    return segment;
  } finally {
    await pool.close();
  }
}

/** 64 answers of 20 MB in flight at once through one fresh proxy: its peak RSS is the figure. */
export async function measureMemory(
  stack: BenchStack,
  book: RequestBook,
  at: { run: number; target: 'floor' | 'gateway'; face: 'generateContent' | 'openai' },
  progress: (text: string) => void,
): Promise<MemorySegment> {
  const { run, target, face } = at;
  await stack.freshProxies(book);
  const proxy = target === 'floor' ? stack.floor : stack.gateway;
  const pool = loadPool(proxy.url, RSS_CONCURRENCY);
  try {
    const sampler = new RssSampler(proxy.pid);
    const result = await runLoad({
      pool,
      request: book.request(face, '4K', target),
      concurrency: RSS_CONCURRENCY,
      // One round is enough: the 64 answers are all in flight together from the start.
      requestsPerLoop: 1,
      minResponseBytes: minAnswerBytes('4K'),
    });
    const peak = sampler.stop();
    const gatewayDeath = await stack.checkAfterSegment(run, `${RSS_CONCURRENCY} x 4K ${face} ${target}`);
    const death = target === 'gateway' ? gatewayDeath : undefined;
    if (death !== undefined) result.firstError = `gateway died: ${death}`;
    const segment: MemorySegment = {
      run,
      target,
      face,
      inFlight: RSS_CONCURRENCY,
      completed: result.completed,
      errors: result.errors,
      ...(result.firstError !== undefined ? { firstError: result.firstError } : {}),
      p50Ms: percentile(result.latenciesMs, 50),
      startRssMb: sampler.startBytes / 2 ** 20,
      peakRssMb: peak / 2 ** 20,
    };
    progress(
      `  4K x ${RSS_CONCURRENCY} in flight ${face.padEnd(15)} ${target.padEnd(7)} ${result.completed} done, errors ${result.errors}, ` +
        `p50 ${segment.p50Ms.toFixed(0)} ms, RSS ${segment.startRssMb.toFixed(0)} -> peak ${segment.peakRssMb.toFixed(0)} MB` +
        (segment.firstError ? `  (${segment.firstError})` : ''),
    );
    return segment;
  } finally {
    await pool.close();
  }
}
