/**
 * Measured segments: load on one target at a time while the proxy's CPU time and RSS are read
 * from /proc, with what other processes on the machine did meanwhile.
 */
import { performance } from 'node:perf_hooks';
import type { Pool } from 'undici';
import { loadPool, percentile, probeRoute, runLoad, type RequestSpec } from './load.js';
import type { Started } from './processes.js';
import { cpuTimeMs, machineCpuTimeMs, RssSampler } from './proc-stats.js';
import type { MemorySegment, Segment } from './report.js';
import { CONCURRENCY, isOpenAiFace, minAnswerBytes, RSS_CONCURRENCY, type BodyKind, type Face, type RequestBook, type Target } from './scenarios.js';
import type { BenchStack } from './stack.js';

export interface Timing {
  /** Per target, before its first slice. */
  warmupMs: number;
  /** Per target, summed over its slices. */
  measureMs: number;
  /** Slices per target, interleaved with the other targets'. */
  rounds: number;
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

/** One target, face and body: its pool and what its slices have added up to so far. */
interface Lane {
  face: Face;
  target: Target;
  request: RequestSpec;
  pool: Pool;
  /** Set once the gateway (or peer) under this lane died: its later slices are skipped. */
  death?: string;
  /** A peer's route that answered none of its probe requests: not measured, its failures reported. */
  unsupported?: boolean;
  latenciesMs: number[];
  completed: number;
  errors: number;
  firstError?: string;
  /** Answers over requests-per-second, summed over slices: the time the answers took, as if one after another at that rate. */
  rateMs: number;
  proxyCpuMs: number;
  mockCpuMs: number;
  loadCpuMs: number;
  foreignPctTimesMs: number;
  elapsedMs: number;
  startRssBytes?: number;
  peakRssBytes?: number;
}

function proxyOf(stack: BenchStack, target: Target): Started | undefined {
  switch (target) {
    case 'direct':
      return undefined;
    case 'floor':
      return stack.floor;
    case 'gateway':
      return stack.gateway;
    case 'portkey':
      return stack.portkey;
  }
}

/** The targets measured for a face: the OpenAI faces' direct and floor figures are the native request's. */
export function targetsFor(face: Face, peers: boolean): Target[] {
  const own: Target[] = isOpenAiFace(face) ? ['gateway'] : ['direct', 'floor', 'gateway'];
  return peers ? [...own, 'portkey'] : own;
}

async function measureSlice(stack: BenchStack, lane: Lane, body: BodyKind, windowMs: number, run: number): Promise<void> {
  const proxy = proxyOf(stack, lane.target);
  if (lane.target === 'portkey' && proxy === undefined) {
    lane.death ??= 'not running';
    return;
  }
  const concurrency = CONCURRENCY[body];
  const startedMs = performance.now();
  const proxyCpu0 = cpuOf(proxy?.pid);
  const mockCpu0 = cpuOf(stack.mock.pid);
  const loadCpu0 = cpuTimeMs(process.pid);
  const foreign = new ForeignCpu(stack.pids());
  const sampler = proxy ? new RssSampler(proxy.pid) : undefined;
  const result = await runLoad({ pool: lane.pool, request: lane.request, concurrency, durationMs: windowMs, minResponseBytes: minAnswerBytes(body) });
  const peakRssBytes = sampler?.stop();
  lane.proxyCpuMs += cpuOf(proxy?.pid) - proxyCpu0;
  lane.mockCpuMs += cpuOf(stack.mock.pid) - mockCpu0;
  lane.loadCpuMs += cpuTimeMs(process.pid) - loadCpu0;
  const elapsedMs = performance.now() - startedMs;
  lane.foreignPctTimesMs += foreign.percentOfCore() * elapsedMs;
  lane.elapsedMs += elapsedMs;
  const deaths = await stack.checkAfterSegment(run, `${body} ${lane.face} ${lane.target}`);
  // Only the dead proxy's own lane loses its figures; another target's are sound.
  if ((lane.target === 'gateway' || lane.target === 'portkey') && deaths[lane.target] !== undefined) lane.death = deaths[lane.target];
  for (const ms of result.latenciesMs) lane.latenciesMs.push(ms);
  lane.completed += result.completed;
  lane.errors += result.errors;
  lane.firstError ??= lane.death !== undefined ? `${lane.target} died: ${lane.death}` : result.firstError;
  if (result.requestsPerSec > 0) lane.rateMs += (result.completed * 1000) / result.requestsPerSec;
  if (sampler && peakRssBytes !== undefined) {
    lane.startRssBytes ??= sampler.startBytes;
    lane.peakRssBytes = Math.max(lane.peakRssBytes ?? 0, peakRssBytes);
  }
}

function segmentOf(lane: Lane, run: number, body: BodyKind): Segment {
  lane.latenciesMs.sort((a, b) => a - b);
  const requests = Math.max(1, lane.completed + lane.errors);
  const proxyFigures =
    lane.peakRssBytes !== undefined && lane.startRssBytes !== undefined && lane.death === undefined && !lane.unsupported
      ? { cpuMsPerRequest: lane.proxyCpuMs / requests, peakRssMb: lane.peakRssBytes / 2 ** 20, startRssMb: lane.startRssBytes / 2 ** 20 }
      : {};
  return {
    run,
    face: lane.face,
    body,
    target: lane.target,
    concurrency: CONCURRENCY[body],
    completed: lane.completed,
    errors: lane.errors,
    ...(lane.firstError !== undefined ? { firstError: lane.firstError } : {}),
    elapsedMs: lane.elapsedMs,
    p50Ms: percentile(lane.latenciesMs, 50),
    p99Ms: percentile(lane.latenciesMs, 99),
    requestsPerSec: lane.rateMs > 0 ? (lane.completed * 1000) / lane.rateMs : 0,
    ...proxyFigures,
    mockCpuMsPerRequest: lane.mockCpuMs / requests,
    loadGeneratorCpuMsPerRequest: lane.loadCpuMs / requests,
    foreignCpuPct: lane.foreignPctTimesMs / Math.max(1, lane.elapsedMs),
    ...(lane.unsupported ? { unsupported: true } : {}),
  };
}

/**
 * Every target and face of one body, measured in interleaved slices (direct, floor, gateway, ...
 * then again) rather than one after the other: this machine's speed drifts over seconds, and a
 * target measured in its own few seconds would carry that drift into every ratio.
 */
export async function measureBody(
  stack: BenchStack,
  book: RequestBook,
  timing: Timing,
  at: { run: number; body: BodyKind; faces: readonly Face[] },
  progress: (text: string) => void,
): Promise<Segment[]> {
  const { run, body, faces } = at;
  const concurrency = CONCURRENCY[body];
  const lanes: Lane[] = [];
  for (const face of faces) {
    // The mock has no OpenAI route: the OpenAI faces are compared with the native request's direct and floor figures.
    for (const target of targetsFor(face, stack.portkey !== undefined)) {
      const origin = proxyOf(stack, target)?.url ?? stack.mock.url;
      lanes.push({
        face,
        target,
        request: book.request(face, body, target, stack.mock.url),
        pool: loadPool(origin, concurrency),
        latenciesMs: [],
        completed: 0,
        errors: 0,
        rateMs: 0,
        proxyCpuMs: 0,
        mockCpuMs: 0,
        loadCpuMs: 0,
        foreignPctTimesMs: 0,
        elapsedMs: 0,
      });
    }
  }
  try {
    for (const lane of lanes) {
      if (lane.target === 'portkey') {
        // A peer's route is first tried with one request per loop: a route that answers none is
        // reported with those failures rather than hammered for the whole segment.
        const probe = await probeRoute(lane.pool, lane.request, concurrency, minAnswerBytes(body));
        if (probe.completed === 0) {
          lane.unsupported = true;
          lane.errors = probe.errors;
          if (probe.firstError !== undefined) lane.firstError = probe.firstError;
          continue;
        }
      }
      await runLoad({ pool: lane.pool, request: lane.request, concurrency, durationMs: timing.warmupMs, minResponseBytes: minAnswerBytes(body) });
    }
    for (let round = 0; round < timing.rounds; round++) {
      for (const lane of lanes) {
        if (lane.death === undefined && !lane.unsupported) await measureSlice(stack, lane, body, timing.measureMs / timing.rounds, run);
      }
    }
  } finally {
    await Promise.all(lanes.map((lane) => lane.pool.close()));
  }
  const segments = lanes.map((lane) => segmentOf(lane, run, body));
  for (const segment of segments) {
    if (segment.unsupported) {
      progress(`  ${body.padEnd(4)} ${segment.face.padEnd(21)} ${segment.target.padEnd(7)} c=${String(concurrency).padEnd(2)} not relayed: ${segment.errors} of ${segment.errors} probe requests failed (${segment.firstError ?? '?'})`);
      continue;
    }
    progress(
      `  ${body.padEnd(4)} ${segment.face.padEnd(21)} ${segment.target.padEnd(7)} c=${String(concurrency).padEnd(2)} ` +
        `${segment.requestsPerSec.toFixed(1).padStart(7)} req/s  p50 ${segment.p50Ms.toFixed(1).padStart(7)} ms  ` +
        `p99 ${segment.p99Ms.toFixed(1).padStart(7)} ms  errors ${segment.errors}` +
        (segment.cpuMsPerRequest !== undefined ? `  cpu ${segment.cpuMsPerRequest.toFixed(2)} ms/req  rss ${segment.peakRssMb!.toFixed(0)} MB` : '') +
        (segment.foreignCpuPct >= FOREIGN_CPU_WARN_PCT ? `  [other processes used ${segment.foreignCpuPct.toFixed(0)}% of a core]` : '') +
        (segment.firstError ? `  (${segment.firstError})` : ''),
    );
  }
  return segments;
}

/**
 * 64 answers of 20 MB in flight at once through one fresh proxy: its peak RSS is the figure.
 * With --peers also 8 (the 4K segment's concurrency), for the chat face and Portkey.
 */
export async function measureMemory(
  stack: BenchStack,
  book: RequestBook,
  at: { run: number; target: 'floor' | 'gateway' | 'portkey'; face: 'generateContent' | 'openai' | 'chat'; inFlight?: number },
  progress: (text: string) => void,
): Promise<MemorySegment | undefined> {
  const { run, target, face } = at;
  const inFlight = at.inFlight ?? RSS_CONCURRENCY;
  await stack.freshProxies(book);
  const proxy = proxyOf(stack, target);
  // A peer that would not start again has no figures to give.
  if (proxy === undefined) return undefined;
  const pool = loadPool(proxy.url, inFlight);
  try {
    const sampler = new RssSampler(proxy.pid);
    const result = await runLoad({
      pool,
      request: book.request(face, '4K', target, stack.mock.url),
      concurrency: inFlight,
      // One round is enough: the answers are all in flight together from the start.
      requestsPerLoop: 1,
      minResponseBytes: minAnswerBytes('4K'),
    });
    const peak = sampler.stop();
    const deaths = await stack.checkAfterSegment(run, `${inFlight} x 4K ${face} ${target}`);
    const death = target === 'floor' ? undefined : deaths[target];
    if (death !== undefined) result.firstError = `${target} died: ${death}`;
    const segment: MemorySegment = {
      run,
      target,
      face,
      inFlight,
      completed: result.completed,
      errors: result.errors,
      ...(result.firstError !== undefined ? { firstError: result.firstError } : {}),
      p50Ms: percentile(result.latenciesMs, 50),
      startRssMb: sampler.startBytes / 2 ** 20,
      peakRssMb: peak / 2 ** 20,
    };
    progress(
      `  4K x ${inFlight} in flight ${face.padEnd(15)} ${target.padEnd(7)} ${result.completed} done, errors ${result.errors}, ` +
        `p50 ${segment.p50Ms.toFixed(0)} ms, RSS ${segment.startRssMb.toFixed(0)} -> peak ${segment.peakRssMb.toFixed(0)} MB` +
        (segment.firstError ? `  (${segment.firstError})` : ''),
    );
    return segment;
  } finally {
    await pool.close();
  }
}
