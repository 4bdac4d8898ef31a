/**
 * `npm run bench` (contract §10): the gateway's production build, a floor proxy and the mock
 * upstream, each in its own process, driven from this one over loopback. For each face and
 * body it measures direct-to-mock, through the floor and through the gateway in the same run,
 * prints a table and the issue's targets, and writes bench/results/latest.json.
 *
 *   npm run bench -- [--quick] [--runs N] [--redis] [--peers] [--bodies tiny,1K] [--faces generateContent,openai]
 *                    [--parts http,admission,ledger] [--profile DIR] [--out FILE]
 *
 * --quick: one run of short segments (under 3 minutes). Default: three runs, medians reported
 * (under 10 minutes). The issue's targets are checked at the end either way (--check is
 * accepted and changes nothing); the exit code is 0 whether they pass or not.
 * --redis: the gateway uses a private redis-server instead of its in-memory store.
 * --peers: Portkey's open-source gateway (the @portkey-ai/gateway devDependency) runs beside
 * nanogate as another process, pointed at the mock, and is measured in the same slices on every
 * face chosen: its chat completions route (the one it relays Gemini on; the chat face is added
 * for nanogate too, like for like) and, as rows that show their failures, its images and native
 * routes. With 4K, the memory table gets 8 and 64 chat answers in flight for nanogate and Portkey.
 * If Portkey is missing or will not start, a line says so and the run goes on without it.
 * --faces also takes chat (nanogate's POST /v1/chat/completions), which is not measured by default.
 * --parts: what to measure, default all: the HTTP segments, quota admission (memory and a
 * private redis-server), usage ledger writes (SQLite, PostgreSQL); the latter two after the
 * HTTP segments, in this process.
 * --profile DIR: the gateway and the floor run with --cpu-prof; each process writes its
 * profile to DIR/gateway or DIR/floor on exit (read one with dist-bench/bench/cpu-profile-summary.js).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureAdmission } from './admission.js';
import { measureLedger } from './ledger-throughput.js';
import { FOREIGN_CPU_WARN_PCT, measureBody, measureMemory } from './measure.js';
import { HelpRequested, parseOptions, USAGE, UsageError } from './options.js';
import { cpuModel } from './proc-stats.js';
import {
  buildMemoryRows,
  buildRows,
  checkTargets,
  formatChecks,
  formatAdmissionTable,
  formatLedgerTable,
  formatMemoryTable,
  formatTable,
  median,
  type ComponentFigures,
  type IdleRss,
  type MemorySegment,
  type Segment,
} from './report.js';
import { ANSWER_BASE64_BYTES, CONCURRENCY, EDIT_IMAGE_BYTES, EDIT_IMAGES, RequestBook, RSS_CONCURRENCY } from './scenarios.js';
import { BenchStack } from './stack.js';

/** dist-bench/bench/run.js -> the repository root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST_BENCH = join(ROOT, 'dist-bench');
/** How long a fresh process serves nothing before its idle RSS is read (V8 shrinks the heap its start grew). */
const IDLE_SETTLE_MS = 15_000;

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), ROOT);
  const startedMs = Date.now();
  const book = new RequestBook();
  progress(`nanogate bench (${opts.mode}: ${opts.runs} run(s), warm-up ${opts.warmupMs} ms, ${opts.measureMs} ms per target in ${opts.rounds} interleaved slices)`);

  let stack: BenchStack | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping everything the bench started`);
    void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const segments: Segment[] = [];
  const memorySegments: MemorySegment[] = [];
  const idleSamples: IdleRss[] = [];
  if (opts.parts.includes('http')) {
    stack = await BenchStack.start({
      root: ROOT,
      distBench: DIST_BENCH,
      redis: opts.redis,
      ...(opts.profileDir ? { profileDir: opts.profileDir } : {}),
      crashLogDir: dirname(opts.outPath),
      warmMs: opts.mode === 'quick' ? 300 : 500,
      faces: opts.faces,
      peers: opts.peers,
      progress,
    });
    try {
      for (let run = 0; run < opts.runs; run++) {
        progress(`run ${run + 1}/${opts.runs}`);
        const idle = await stack.idleRss(IDLE_SETTLE_MS);
        progress(`  idle RSS ${IDLE_SETTLE_MS / 1000} s after start: floor ${idle.floorMb.toFixed(0)} MB, gateway ${idle.gatewayMb.toFixed(0)} MB`);
        idleSamples.push(idle);
        for (const body of opts.bodies) {
          await stack.freshProxies(book);
          segments.push(...(await measureBody(stack, book, opts, { run, body, faces: opts.faces }, progress)));
        }
        if (opts.bodies.includes('4K')) {
          const running = stack;
          const memory = async (at: Parameters<typeof measureMemory>[2]) => {
            const segment = await measureMemory(running, book, at, progress);
            if (segment) memorySegments.push(segment);
          };
          await memory({ run, target: 'floor', face: 'generateContent' });
          for (const face of ['generateContent', 'openai'] as const) {
            if (opts.faces.includes(face)) await memory({ run, target: 'gateway', face });
          }
          if (opts.faces.includes('chat')) await memory({ run, target: 'gateway', face: 'chat' });
          if (opts.peers && stack.portkey) await memory({ run, target: 'portkey', face: 'chat' });
          if (opts.peers) {
            // As many in flight as the 4K segment's loops: the figure the peer is quoted with.
            const few = CONCURRENCY['4K'];
            await memory({ run, target: 'floor', face: 'generateContent', inFlight: few });
            if (opts.faces.includes('chat')) await memory({ run, target: 'gateway', face: 'chat', inFlight: few });
            if (stack.portkey) await memory({ run, target: 'portkey', face: 'chat', inFlight: few });
          }
        }
      }
    } finally {
      await stack.stop();
    }
  }
  // After the HTTP segments, with their processes gone: these run in this process alone.
  const components: ComponentFigures = {};
  if (opts.parts.includes('admission')) {
    progress('quota admission: memory and a private redis-server');
    components.admission = await measureAdmission(opts.mode === 'quick' ? { sequential: 5_000, concurrent: 10_000 } : { sequential: 20_000, concurrent: 50_000 });
  }
  if (opts.parts.includes('ledger')) {
    progress('usage ledger: SQLite and PostgreSQL');
    components.ledger = await measureLedger(opts.mode === 'quick' ? 20_000 : 100_000);
  }

  const rows = buildRows(segments, opts.runs, opts.faces, opts.bodies);
  const memory = buildMemoryRows(memorySegments);
  const idle = idleSamples.length > 0 ? { floorMb: median(idleSamples.map((i) => i.floorMb)), gatewayMb: median(idleSamples.map((i) => i.gatewayMb)) } : undefined;
  const checks = checkTargets(rows, memory, { ...components, ...(idle ? { idle } : {}) });
  const problems = stack?.gatewayProblems ?? [];
  const durationSec = (Date.now() - startedMs) / 1000;

  const out: string[] = [];
  out.push('');
  out.push(`nanogate bench, ${opts.mode}, ${opts.runs === 1 ? '1 run' : `median of ${opts.runs} runs`}, node ${process.version}, ${cpus().length} x ${cpuModel()}, ${opts.redis ? 'Redis store' : 'in-memory store'}, SQLite ledger`);
  const peer = stack?.peerStatus;
  if (peer) {
    if (!peer.started) out.push(`peers: Portkey's gateway NOT in this run: ${peer.reason}`);
    else out.push(`peers: Portkey's gateway ${peer.version} (@portkey-ai/gateway) in the same run${peer.lost ? `, until ${peer.lost} (later rows lack it)` : ''}`);
  }
  out.push('');
  if (rows.length > 0) out.push(formatTable(rows, peer?.started ? { portkeyVersion: peer.version } : {}));
  if (memory.length > 0) {
    out.push('');
    out.push(formatMemoryTable(memory));
  }
  if (idle) {
    out.push('');
    out.push(`idle RSS, ${IDLE_SETTLE_MS / 1000} s after start with no request: floor ${idle.floorMb.toFixed(0)} MB, gateway ${idle.gatewayMb.toFixed(0)} MB`);
  }
  if (components.admission) {
    out.push('');
    out.push(formatAdmissionTable(components.admission));
  }
  if (components.ledger) {
    out.push('');
    out.push(formatLedgerTable(components.ledger));
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
    out.push(`the gateway DIED ${deaths.length} time(s); logs kept in ${dirname(opts.outPath)}/gateway-PID-crash.log:`);
    for (const d of deaths) out.push(`  run ${d.run + 1}, during ${d.during}: ${d.how} (pid ${d.pid})`);
  }
  if (stack) {
    out.push(`gateway log lines at warn or above while serving: ${problems.length}`);
    for (const [msg, count] of distinct) out.push(`  ${count} x ${msg}`);
  }
  const peerDeaths = stack?.peerDeaths ?? [];
  if (peerDeaths.length > 0) {
    out.push(`Portkey's gateway DIED ${peerDeaths.length} time(s); logs kept in ${dirname(opts.outPath)}/portkey-PID-crash.log:`);
    for (const d of peerDeaths) out.push(`  run ${d.run + 1}, during ${d.during}: ${d.how} (pid ${d.pid})`);
  }
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
      rounds: opts.rounds,
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
      ...(peer ? { peers: [peer] } : {}),
      notes: [
        'latency is to the last byte of the answer; added = target - direct in the same run; ratios against the floor of the same run',
        'cpuMsPerRequest and peakRssMb are of the proxy process (floor or gateway) from /proc; mockCpuMsPerRequest is the mock\'s',
        'OpenAI rows with reference "native generateContent" carry the native request\'s figures: the mock has no OpenAI route',
        ...(peer ? ['portkey rows: Portkey\'s gateway as another proxy of the same run; unsupported = every probe request failed, errors = those probes'] : []),
      ],
    },
    rows,
    memory,
    ...(idle ? { idleRss: idle } : {}),
    checks,
    gatewayLogProblems: [...distinct].map(([message, count]) => ({ message, count })),
    gatewayDeaths: deaths,
    ...(peer ? { peerDeaths } : {}),
    admission: components.admission ?? [],
    ledger: components.ledger ?? [],
    segments,
    memorySegments,
  };
  writeFileSync(opts.outPath, `${JSON.stringify(json, null, 2)}\n`);
}

main().catch((e: unknown) => {
  if (e instanceof HelpRequested) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (e instanceof UsageError) {
    process.stderr.write(`bench: ${e.message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
