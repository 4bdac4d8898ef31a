/**
 * `npm run bench` (contract §10): the gateway's production build, a floor proxy and the mock
 * upstream, each in its own process, driven from this one over loopback. For each face and
 * body it measures direct-to-mock, through the floor and through the gateway in the same run,
 * prints a table and the issue's targets, and writes bench/results/latest.json.
 *
 *   npm run bench -- [--quick] [--runs N] [--redis] [--bodies tiny,1K] [--faces generateContent,openai]
 *                    [--profile DIR] [--out FILE]
 *
 * --quick: one run of short segments (under 3 minutes). Default: three runs, medians reported
 * (under 10 minutes). The issue's targets are checked at the end either way (--check is
 * accepted and changes nothing); the exit code is 0 whether they pass or not. --redis: the gateway uses a private redis-server instead of its in-memory
 * store. --profile DIR: the gateway and the floor run with --cpu-prof; each process writes its
 * profile to DIR/gateway or DIR/floor on exit (read one with dist-bench/bench/cpu-profile-summary.js).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { MODELS } from '../src/models/catalog.js';
import { startRedisServer, type RunningRedis } from '../test/support/redis-server.js';
import { loadPool, percentile, runLoad, type RequestSpec } from './load.js';
import { startFloor, startGateway, startMock, type Started, type StartedGateway } from './processes.js';
import { cpuModel, cpuTimeMs, findPid, machineCpuTimeMs, RssSampler } from './proc-stats.js';
import {
  buildMemoryRows,
  buildRows,
  checkTargets,
  formatChecks,
  formatMemoryTable,
  formatTable,
  type MemorySegment,
  type Segment,
} from './report.js';
import {
  ANSWER_BASE64_BYTES,
  BODIES,
  CONCURRENCY,
  EDIT_IMAGE_BYTES,
  EDIT_IMAGES,
  FACES,
  GOOGLE_KEY,
  minAnswerBytes,
  RequestBook,
  RSS_CONCURRENCY,
  TENANT_KEY,
  type BodyKind,
  type Face,
  type Target,
} from './scenarios.js';

interface Options {
  mode: 'quick' | 'full';
  runs: number;
  warmupMs: number;
  measureMs: number;
  redis: boolean;
  faces: Face[];
  bodies: BodyKind[];
  profileDir?: string;
  outPath: string;
}

/** dist-bench/bench/run.js -> the repository root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST_BENCH = join(ROOT, 'dist-bench');

function listArg<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T[] {
  if (value === undefined) throw new Error(`${name} needs a value`);
  const items = value.split(',').map((s) => s.trim());
  for (const item of items) if (!allowed.includes(item as T)) throw new Error(`${name}: "${item}" is not one of ${allowed.join(', ')}`);
  return items as T[];
}

function parseOptions(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  const opts: Options = {
    mode: quick ? 'quick' : 'full',
    runs: quick ? 1 : 3,
    warmupMs: quick ? 500 : 750,
    measureMs: quick ? 2_000 : 2_500,
    redis: false,
    faces: [...FACES],
    bodies: [...BODIES],
    outPath: join(ROOT, 'bench/results/latest.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = () => argv[++i];
    if (arg === '--quick' || arg === '--check') continue;
    else if (arg === '--runs') {
      opts.runs = Number(next());
      if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error('--runs needs a positive integer');
    } else if (arg === '--redis') opts.redis = true;
    else if (arg === '--faces') {
      const chosen = listArg(next(), FACES, '--faces');
      opts.faces = FACES.filter((f) => chosen.includes(f));
    } else if (arg === '--bodies') {
      const chosen = listArg(next(), BODIES, '--bodies');
      opts.bodies = BODIES.filter((b) => chosen.includes(b));
    } else if (arg === '--profile') opts.profileDir = resolve(next() ?? '/tmp/nanogate-prof');
    else if (arg === '--out') opts.outPath = resolve(next() ?? opts.outPath);
    else throw new Error(`unknown option ${arg}`);
  }
  return opts;
}

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

interface Stack {
  mock: Started;
  floor: Started;
  gateway: StartedGateway;
  redis?: RunningRedis;
  redisPid?: number;
  /** False until the gateway has served a segment: a fresh one need not be restarted. */
  gatewayUsed: boolean;
  gatewayProblems: string[];
  gatewayDeaths: GatewayDeath[];
}

interface GatewayDeath {
  run: number;
  during: string;
  how: string;
  pid: number;
  logTail: string;
}

async function launchGateway(opts: Options, stack: { mock: Started; redis?: RunningRedis }): Promise<StartedGateway> {
  return startGateway({
    mainJs: join(ROOT, 'dist/main.js'),
    upstreamUrl: stack.mock.url,
    googleKey: GOOGLE_KEY,
    tenantKey: TENANT_KEY,
    models: MODELS.map((m) => m.id),
    ...(stack.redis ? { redisUrl: stack.redis.url } : {}),
    ...(opts.profileDir ? { nodeArgs: profileArgs(opts.profileDir, 'gateway') } : {}),
    crashLogDir: dirname(opts.outPath),
  });
}

/** V8 CPU profiles, written by each process as it exits: DIR/gateway/*.cpuprofile, DIR/floor/... */
function profileArgs(dir: string, name: string): string[] {
  return ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`];
}

/** A fresh gateway: memory a previous segment left behind must not count as this one's peak. */
async function restartGateway(opts: Options, stack: Stack): Promise<void> {
  if (!stack.gatewayUsed) return;
  stack.gatewayUsed = false;
  stack.gatewayProblems.push(...stack.gateway.problems());
  await stack.gateway.stop();
  stack.gateway = await launchGateway(opts, stack);
}

/** Other processes' CPU, in percent of one core, above which a segment is flagged. */
const FOREIGN_CPU_WARN_PCT = 10;

function cpuOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return cpuTimeMs(pid);
  } catch {
    // It died during the segment: reported as such, its figures left out.
    return Number.NaN;
  }
}

/** A gateway that died is a finding, not the end of the run: keep its log, note it, start another. */
async function replaceIfDead(opts: Options, stack: Stack, run: number, during: string): Promise<string | undefined> {
  const how = stack.gateway.died();
  if (how === undefined) return undefined;
  const tail = stack.gateway.logTail(20);
  stack.gatewayDeaths.push({ run, during, how, pid: stack.gateway.pid, logTail: tail });
  progress(`  the gateway (pid ${stack.gateway.pid}) died during ${during}: ${how}; its log is kept in ${dirname(opts.outPath)}; starting another\n${tail}`);
  stack.gatewayUsed = true;
  await restartGateway(opts, stack);
  return how;
}

function assertAlive(stack: Stack): void {
  for (const p of [stack.mock, stack.floor]) {
    const how = p.died();
    if (how !== undefined) throw new Error(`the ${p.name} process died (${how}): the run cannot go on`);
  }
}

/**
 * CPU the machine spent outside the bench's own processes. The machine is shared (2 cores):
 * anything else running makes every figure of the segment suspect, so it is reported with it.
 */
class ForeignCpu {
  readonly #pids: number[];
  readonly #machine0 = machineCpuTimeMs();
  readonly #ours0: number;

  constructor(stack: Stack) {
    this.#pids = [process.pid, stack.mock.pid, stack.floor.pid, stack.gateway.pid, ...(stack.redisPid !== undefined ? [stack.redisPid] : [])];
    this.#ours0 = this.#ours();
  }

  #ours(): number {
    return this.#pids.reduce((sum, pid) => sum + cpuOf(pid), 0);
  }

  /** Percent of one core used by other processes since construction. */
  percentOfCore(elapsedMs: number): number {
    const foreignMs = machineCpuTimeMs() - this.#machine0 - (this.#ours() - this.#ours0);
    return Math.max(0, (100 * foreignMs) / elapsedMs);
  }
}

async function measure(
  opts: Options,
  stack: Stack,
  run: number,
  face: Face,
  body: BodyKind,
  target: Target,
  request: RequestSpec,
): Promise<Segment> {
  const proxy = target === 'direct' ? undefined : target === 'floor' ? stack.floor : stack.gateway;
  if (target === 'gateway') stack.gatewayUsed = true;
  const origin = proxy?.url ?? stack.mock.url;
  const concurrency = CONCURRENCY[body];
  const minResponseBytes = minAnswerBytes(body);
  const pool = loadPool(origin, concurrency);
  try {
    await runLoad({ pool, request, concurrency, durationMs: opts.warmupMs, minResponseBytes });
    const proxyCpu0 = cpuOf(proxy?.pid);
    const mockCpu0 = cpuTimeMs(stack.mock.pid);
    const loadCpu0 = cpuTimeMs(process.pid);
    const foreign = new ForeignCpu(stack);
    const sampler = proxy ? new RssSampler(proxy.pid) : undefined;
    const result = await runLoad({ pool, request, concurrency, durationMs: opts.measureMs, minResponseBytes });
    const peakRssBytes = sampler?.stop();
    assertAlive(stack);
    const death = target === 'gateway' ? await replaceIfDead(opts, stack, run, `${body} ${face}`) : undefined;
    if (death !== undefined) result.firstError = `gateway died: ${death}`;
    const proxyCpuMs = cpuOf(proxy?.pid) - proxyCpu0;
    const mockCpuMs = cpuTimeMs(stack.mock.pid) - mockCpu0;
    const loadCpuMs = cpuTimeMs(process.pid) - loadCpu0;
    const foreignCpuPct = foreign.percentOfCore(result.elapsedMs);
    const requests = Math.max(1, result.completed + result.errors);
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
      ...(proxy && sampler && peakRssBytes !== undefined && death === undefined
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

/** 64 answers of 20 MB in flight at once through one proxy: its peak RSS is the figure. */
async function measureMemory(opts: Options, stack: Stack, book: RequestBook, run: number, target: 'floor' | 'gateway', face: 'generateContent' | 'openai'): Promise<MemorySegment> {
  if (target === 'gateway') {
    await restartGateway(opts, stack);
    stack.gatewayUsed = true;
  }
  const proxy = target === 'floor' ? stack.floor : stack.gateway;
  const pool = loadPool(proxy.url, RSS_CONCURRENCY);
  try {
    // Loads the face's code paths; tiny answers leave no memory behind worth the name.
    await runLoad({ pool, request: book.request(face, 'tiny', target), concurrency: 4, durationMs: 300, minResponseBytes: minAnswerBytes('tiny') });
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
    assertAlive(stack);
    const death = target === 'gateway' ? await replaceIfDead(opts, stack, run, `64 x 4K ${face}`) : undefined;
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

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const startedMs = Date.now();
  const book = new RequestBook();
  progress(`nanogate bench (${opts.mode}: ${opts.runs} run(s), warm-up ${opts.warmupMs} ms, ${opts.measureMs} ms per segment)`);

  const started: Array<{ stop(): Promise<void> }> = [];
  let stack: Stack | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = () => {
    stopping ??= (async () => {
      if (stack) {
        stack.gatewayProblems.push(...stack.gateway.problems());
        await stack.gateway.stop();
      }
      for (const s of started.reverse()) await s.stop();
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping everything the bench started`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const segments: Segment[] = [];
  const memorySegments: MemorySegment[] = [];
  try {
    const redis = opts.redis ? await startRedisServer() : undefined;
    if (redis) started.push(redis);
    const mock = await startMock(DIST_BENCH, GOOGLE_KEY, ANSWER_BASE64_BYTES);
    started.push(mock);
    const floor = await startFloor(DIST_BENCH, mock.url, opts.profileDir ? profileArgs(opts.profileDir, 'floor') : []);
    started.push(floor);
    const redisPid = redis ? findPid(`redis-server 127.0.0.1:${redis.port}`) : undefined;
    if (redis) progress(`private redis-server on port ${redis.port}${redisPid === undefined ? ' (pid not found: its CPU counts as other processes\')' : `, pid ${redisPid}`}`);
    stack = {
      mock,
      floor,
      gateway: await launchGateway(opts, { mock, ...(redis ? { redis } : {}) }),
      ...(redis ? { redis } : {}),
      ...(redisPid !== undefined ? { redisPid } : {}),
      gatewayUsed: false,
      gatewayProblems: [],
      gatewayDeaths: [],
    };

    for (let run = 0; run < opts.runs; run++) {
      progress(`run ${run + 1}/${opts.runs}`);
      for (const body of opts.bodies) {
        // Each body starts on a fresh gateway, so its peak RSS is its own.
        await restartGateway(opts, stack);
        for (const face of opts.faces) {
          const targets: readonly Target[] = face === 'openai' ? ['gateway'] : ['direct', 'floor', 'gateway'];
          for (const target of targets) segments.push(await measure(opts, stack, run, face, body, target, book.request(face, body, target)));
        }
      }
      if (opts.bodies.includes('4K')) {
        memorySegments.push(await measureMemory(opts, stack, book, run, 'floor', 'generateContent'));
        for (const face of ['generateContent', 'openai'] as const) {
          if (opts.faces.includes(face)) memorySegments.push(await measureMemory(opts, stack, book, run, 'gateway', face));
        }
      }
      await delay(100);
    }
  } finally {
    await stopAll();
  }

  const rows = buildRows(segments, opts.runs, opts.faces, opts.bodies);
  const memory = buildMemoryRows(memorySegments);
  const checks = checkTargets(rows, memory);
  const problems = stack?.gatewayProblems ?? [];
  const durationSec = (Date.now() - startedMs) / 1000;

  const out: string[] = [];
  out.push('');
  out.push(`nanogate bench, ${opts.mode}, ${opts.runs === 1 ? '1 run' : `median of ${opts.runs} runs`}, node ${process.version}, ${cpus().length} x ${cpuModel()}, ${opts.redis ? 'Redis store' : 'in-memory store'}, SQLite ledger`);
  out.push('');
  out.push(formatTable(rows));
  if (memory.length > 0) {
    out.push('');
    out.push(formatMemoryTable(memory));
  }
  out.push('');
  out.push(formatChecks(checks));
  const disturbed = segments.filter((s) => s.foreignCpuPct >= FOREIGN_CPU_WARN_PCT);
  if (disturbed.length > 0) {
    const worst = Math.max(...disturbed.map((s) => s.foreignCpuPct));
    out.push('');
    out.push(
      `warning: in ${disturbed.length} of ${segments.length} segments other processes used >= ${FOREIGN_CPU_WARN_PCT}% of a core ` +
        `(worst ${worst.toFixed(0)}%): those figures are disturbed; see segments[].foreignCpuPct in the JSON.`,
    );
  }
  const distinct = new Map<string, number>();
  for (const line of problems) {
    const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 160);
    distinct.set(msg, (distinct.get(msg) ?? 0) + 1);
  }
  out.push('');
  const deaths = stack?.gatewayDeaths ?? [];
  if (deaths.length > 0) {
    out.push('');
    out.push(`the gateway DIED ${deaths.length} time(s); logs kept in ${dirname(opts.outPath)}/gateway-PID-crash.log:`);
    for (const d of deaths) out.push(`  run ${d.run + 1}, during ${d.during}: ${d.how} (pid ${d.pid})`);
  }
  out.push(`gateway log lines at warn or above while serving: ${problems.length}`);
  for (const [msg, count] of distinct) out.push(`  ${count} x ${msg}`);
  out.push(`finished in ${durationSec.toFixed(0)} s; results in ${opts.outPath}`);
  process.stdout.write(`${out.join('\n')}\n`);

  mkdirSync(dirname(opts.outPath), { recursive: true });
  const json = {
    meta: {
      date: new Date(startedMs).toISOString(),
      durationSec,
      mode: opts.mode,
      runs: opts.runs,
      warmupMs: opts.warmupMs,
      measureMs: opts.measureMs,
      node: process.version,
      cpuModel: cpuModel(),
      loadAverageAtEnd: loadavg(),
      cpus: cpus().length,
      store: opts.redis ? 'redis' : 'memory',
      database: 'sqlite',
      answerBase64Bytes: ANSWER_BASE64_BYTES,
      edit: { images: EDIT_IMAGES, imageBytes: EDIT_IMAGE_BYTES },
      concurrency: CONCURRENCY,
      memoryInFlight: RSS_CONCURRENCY,
      notes: [
        'latency is to the last byte of the answer; added = target - direct in the same run; ratios against the floor of the same run',
        'cpuMsPerRequest and peakRssMb are of the proxy process (floor or gateway) from /proc; mockCpuMsPerRequest is the mock\'s',
        'OpenAI rows with reference "native generateContent" carry the native request\'s figures: the mock has no OpenAI route',
      ],
    },
    rows,
    memory,
    checks,
    gatewayLogProblems: [...distinct].map(([message, count]) => ({ message, count })),
    gatewayDeaths: stack?.gatewayDeaths ?? [],
    segments,
    memorySegments,
  };
  writeFileSync(opts.outPath, `${JSON.stringify(json, null, 2)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
