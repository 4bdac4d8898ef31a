/**
 * From per-run segment figures to the printed table, the JSON and the target check. Every figure
 * is computed within its run (added latency against that run's direct, ratios against that run's
 * floor), then the median over runs is reported, figure by figure.
 */
import type { AdmissionRow } from './admission.js';
import type { LedgerRow } from './ledger-throughput.js';
import { isOpenAiFace, type BodyKind, type Face, type Target } from './scenarios.js';

/** One measured segment: one target, face and body, in one run. */
export interface Segment {
  run: number;
  face: Face;
  body: BodyKind;
  target: Target;
  concurrency: number;
  completed: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  p50Ms: number;
  p99Ms: number;
  requestsPerSec: number;
  /** Of the proxy under test (floor or gateway); absent for direct. */
  cpuMsPerRequest?: number;
  peakRssMb?: number;
  startRssMb?: number;
  /** The mock's own cost, to see when it, not the proxy, is the bottleneck. */
  mockCpuMsPerRequest: number;
  /** The load generator's (this process's) CPU per request. */
  loadGeneratorCpuMsPerRequest: number;
  /** CPU used by processes other than the bench's, in percent of one core: noise on a shared machine. */
  foreignCpuPct: number;
  /** A peer's route that answered none of its probe requests: `errors` are the probe's, nothing was measured. */
  unsupported?: boolean;
}

export interface Figures {
  p50Ms: number;
  p99Ms: number;
  addedP50Ms: number;
  addedP99Ms: number;
  requestsPerSec: number;
  /** requestsPerSec over the floor's (native floor for the OpenAI face). */
  floorRatio: number;
  /** Summed over runs, not a median: any error matters. */
  errors: number;
  cpuMsPerRequest: number | null;
  peakRssMb: number | null;
  /** Other processes' CPU during the segment, percent of one core: high means a disturbed figure. */
  foreignCpuPct: number;
}

export interface Row {
  face: Face;
  body: BodyKind;
  target: Target;
  /** Set on the OpenAI faces' direct/floor rows: they are the native request's figures. */
  reference?: 'native generateContent';
  /** A peer's route that failed every probe request in every run: not relayed at all. */
  unsupported?: true;
  concurrency: number;
  median: Figures;
  perRun: Figures[];
  firstError?: string;
}

/** The proxies a memory segment measures, and the faces it sends. */
export type MemoryTarget = 'floor' | 'gateway' | 'portkey';
export type MemoryFace = 'generateContent' | 'openai' | 'chat';

export interface MemorySegment {
  run: number;
  target: MemoryTarget;
  face: MemoryFace;
  inFlight: number;
  completed: number;
  errors: number;
  firstError?: string;
  p50Ms: number;
  startRssMb: number;
  peakRssMb: number;
}

export interface MemoryRow {
  target: MemoryTarget;
  face: MemoryFace;
  inFlight: number;
  completed: number;
  errors: number;
  p50Ms: number;
  startRssMb: number;
  peakRssMb: number;
  firstError?: string;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function medianOrNull(values: ReadonlyArray<number | null>): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length === 0 ? null : median(present);
}

function find(segments: readonly Segment[], run: number, face: Face, body: BodyKind, target: Target): Segment | undefined {
  return segments.find((s) => s.run === run && s.face === face && s.body === body && s.target === target);
}

function figures(s: Segment, direct: Segment | undefined, floor: Segment | undefined): Figures {
  return {
    p50Ms: s.p50Ms,
    p99Ms: s.p99Ms,
    addedP50Ms: direct ? s.p50Ms - direct.p50Ms : Number.NaN,
    addedP99Ms: direct ? s.p99Ms - direct.p99Ms : Number.NaN,
    requestsPerSec: s.requestsPerSec,
    floorRatio: floor ? s.requestsPerSec / floor.requestsPerSec : Number.NaN,
    errors: s.errors,
    cpuMsPerRequest: s.cpuMsPerRequest ?? null,
    peakRssMb: s.peakRssMb ?? null,
    foreignCpuPct: s.foreignCpuPct,
  };
}

function summarize(perRun: Figures[]): Figures {
  return {
    p50Ms: median(perRun.map((f) => f.p50Ms)),
    p99Ms: median(perRun.map((f) => f.p99Ms)),
    addedP50Ms: median(perRun.map((f) => f.addedP50Ms)),
    addedP99Ms: median(perRun.map((f) => f.addedP99Ms)),
    requestsPerSec: median(perRun.map((f) => f.requestsPerSec)),
    floorRatio: median(perRun.map((f) => f.floorRatio)),
    errors: perRun.reduce((sum, f) => sum + f.errors, 0),
    cpuMsPerRequest: medianOrNull(perRun.map((f) => f.cpuMsPerRequest)),
    peakRssMb: medianOrNull(perRun.map((f) => f.peakRssMb)),
    foreignCpuPct: median(perRun.map((f) => f.foreignCpuPct)),
  };
}

/** Rows in print order: by body, then face, then direct, floor, gateway and a peer (portkey) if measured. */
export function buildRows(segments: readonly Segment[], runs: number, faces: readonly Face[], bodies: readonly BodyKind[]): Row[] {
  const rows: Row[] = [];
  for (const body of bodies) {
    for (const face of faces) {
      // The mock has no OpenAI route: the OpenAI faces are compared with the native request for the same image.
      const base: Face = isOpenAiFace(face) ? 'generateContent' : face;
      const targets: Array<{ target: Target; from: Face }> = [
        { target: 'direct', from: base },
        { target: 'floor', from: base },
        { target: 'gateway', from: face },
        { target: 'portkey', from: face },
      ];
      for (const { target, from } of targets) {
        const perRun: Figures[] = [];
        let first: Segment | undefined;
        for (let run = 0; run < runs; run++) {
          const s = find(segments, run, from, body, target);
          if (!s) continue;
          first ??= s;
          perRun.push(figures(s, find(segments, run, base, body, 'direct'), find(segments, run, base, body, 'floor')));
        }
        if (!first) continue;
        const firstError = segments.find((s) => s.face === from && s.body === body && s.target === target && s.firstError)?.firstError;
        const mine = segments.filter((s) => s.face === from && s.body === body && s.target === target);
        rows.push({
          face,
          body,
          target,
          ...(isOpenAiFace(face) && (target === 'direct' || target === 'floor') ? { reference: 'native generateContent' as const } : {}),
          ...(mine.every((s) => s.unsupported) ? { unsupported: true as const } : {}),
          concurrency: first.concurrency,
          median: summarize(perRun),
          perRun,
          ...(firstError ? { firstError } : {}),
        });
      }
    }
  }
  return rows;
}

/** One row per proxy, face and number in flight, in the order first measured; medians over runs. */
export function buildMemoryRows(segments: readonly MemorySegment[]): MemoryRow[] {
  const keyOf = (s: MemorySegment) => `${s.inFlight}|${s.target}|${s.face}`;
  const keys = [...new Set(segments.map(keyOf))];
  return keys.map((key) => {
    const mine = segments.filter((s) => keyOf(s) === key);
    const first = mine[0]!;
    const firstError = mine.find((s) => s.firstError)?.firstError;
    return {
      target: first.target,
      face: first.face,
      inFlight: first.inFlight,
      completed: mine.reduce((sum, s) => sum + s.completed, 0),
      errors: mine.reduce((sum, s) => sum + s.errors, 0),
      p50Ms: median(mine.map((s) => s.p50Ms)),
      startRssMb: median(mine.map((s) => s.startRssMb)),
      peakRssMb: median(mine.map((s) => s.peakRssMb)),
      ...(firstError ? { firstError } : {}),
    };
  });
}

export interface Check {
  target: string;
  measured: string;
  limit: string;
  pass: boolean | null;
}

function rowOf(rows: readonly Row[], face: Face, body: BodyKind, target: Target): Row | undefined {
  return rows.find((r) => r.face === face && r.body === body && r.target === target);
}

const ms = (v: number) => `${v.toFixed(2)} ms`;
const pct = (v: number) => `${(v * 100).toFixed(0)}%`;

/** The performance issue's targets, each against the floor measured in the same run. */
/** The parts measured outside HTTP: quota admission and ledger writes (absent when not run). */
/** VmRSS of fresh processes that have served nothing for a while (median over runs). */
export interface IdleRss {
  floorMb: number;
  gatewayMb: number;
}

export interface ComponentFigures {
  admission?: readonly AdmissionRow[];
  ledger?: readonly LedgerRow[];
  idle?: IdleRss;
}

export function checkTargets(rows: readonly Row[], memory: readonly MemoryRow[], components: ComponentFigures = {}): Check[] {
  const checks: Check[] = [];
  const add = (target: string, measured: number | null | undefined, limit: number | null | undefined, fmt: (v: number) => string, atMost: boolean) => {
    if (measured === null || measured === undefined || limit === null || limit === undefined || !Number.isFinite(measured) || !Number.isFinite(limit)) {
      checks.push({ target, measured: 'not measured', limit: '-', pass: null });
      return;
    }
    checks.push({ target, measured: fmt(measured), limit: `${atMost ? '<=' : '>='} ${fmt(limit)}`, pass: atMost ? measured <= limit : measured >= limit });
  };
  for (const face of ['generateContent', 'streamGenerateContent'] as const) {
    const gw = rowOf(rows, face, 'tiny', 'gateway')?.median;
    const floor = rowOf(rows, face, 'tiny', 'floor')?.median;
    add(`tiny ${face} c=16: throughput vs floor`, gw?.floorRatio, 0.7, pct, false);
    add(`tiny ${face} c=16: added p50 <= floor's + 1 ms`, gw?.addedP50Ms, floor ? floor.addedP50Ms + 1 : undefined, ms, true);
    add(`tiny ${face} c=16: CPU/request <= floor's + 0.15 ms`, gw?.cpuMsPerRequest, floor?.cpuMsPerRequest != null ? floor.cpuMsPerRequest + 0.15 : undefined, ms, true);
  }
  for (const face of ['generateContent', 'streamGenerateContent'] as const) {
    const floor = rowOf(rows, face, '1K', 'floor')?.median;
    add(`1K ${face}: added p50 <= 1.25x floor's`, rowOf(rows, face, '1K', 'gateway')?.median.addedP50Ms, floor ? 1.25 * floor.addedP50Ms : undefined, ms, true);
  }
  const floor1K = rowOf(rows, 'generateContent', '1K', 'floor')?.median;
  add(`1K openai: added p50 <= 2x native floor's`, rowOf(rows, 'openai', '1K', 'gateway')?.median.addedP50Ms, floor1K ? 2 * floor1K.addedP50Ms : undefined, ms, true);
  for (const face of ['generateContent', 'streamGenerateContent'] as const) {
    add(`4K ${face} c=8: throughput vs floor`, rowOf(rows, face, '4K', 'gateway')?.median.floorRatio, 0.8, pct, false);
  }
  // #15: the OpenAI face as cheap as the native one, edits, memory.
  add('tiny openai c=16: throughput vs floor', rowOf(rows, 'openai', 'tiny', 'gateway')?.median.floorRatio, 0.7, pct, false);
  const openai4K = rowOf(rows, 'openai', '4K', 'gateway')?.median;
  const floor4K = rowOf(rows, 'generateContent', '4K', 'floor')?.median;
  add('4K openai c=8: throughput vs floor', openai4K?.floorRatio, 0.8, pct, false);
  add("4K openai c=8: CPU/request <= 1.3x floor's", openai4K?.cpuMsPerRequest, floor4K?.cpuMsPerRequest != null ? 1.3 * floor4K.cpuMsPerRequest : undefined, ms, true);
  const mb = (v: number) => `${v.toFixed(0)} MB`;
  add('4K openai c=8: peak gateway RSS', openai4K?.peakRssMb, 250, mb, true);
  add('edit 3x1MB openai c=4: throughput vs floor', rowOf(rows, 'openai', 'edit', 'gateway')?.median.floorRatio, 0.85, pct, false);
  add('edit 3x1MB generateContent c=4: throughput vs floor', rowOf(rows, 'generateContent', 'edit', 'gateway')?.median.floorRatio, 0.9, pct, false);
  const rss = (face: 'generateContent' | 'openai') => memory.find((m) => m.target === 'gateway' && m.face === face)?.peakRssMb;
  add('peak gateway RSS, 64 x 4K in flight, native', rss('generateContent'), 300, mb, true);
  add('peak gateway RSS, 64 x 4K in flight, openai', rss('openai'), 300, mb, true);
  add('idle gateway RSS after start', components.idle?.gatewayMb, 100, mb, true);
  const redisSequential = components.admission?.find((a) => a.store === 'redis' && a.mode === 'sequential');
  add('quota admission against local Redis: p99', redisSequential?.p99Ms, 1, (v) => `${v.toFixed(3)} ms`, true);
  const perSecond = (v: number) => `${Math.round(v).toLocaleString('en-US')}/s`;
  const ledger = (db: LedgerRow['database']) => components.ledger?.find((l) => l.database === db && !l.skipped)?.medianPerSecond;
  add('usage ledger on SQLite, batches of 1000: records', ledger('sqlite'), 20_000, perSecond, false);
  add('usage ledger on PostgreSQL, batches of 1000: records', ledger('postgresql'), 10_000, perSecond, false);
  return checks;
}

function cell(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

function table(header: string[], lines: string[][], rightAligned: (i: number) => boolean): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => (rightAligned(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(format)].join('\n');
}

const BODY_LABEL: Readonly<Record<BodyKind, string>> = {
  tiny: 'tiny',
  edit: 'edit 3x1MB',
  '1K': '1K 1.5MB',
  '2K': '2K 6MB',
  '4K': '4K 20MB',
};

const FACE_LABEL: Readonly<Record<Face, string>> = { generateContent: 'native', streamGenerateContent: 'native-sse', openai: 'openai', chat: 'openai-chat' };

export function formatTable(rows: readonly Row[], peers: { portkeyVersion?: string } = {}): string {
  const header = ['body', 'face', 'target', 'c', 'p50 ms', 'p99 ms', '+p50 ms', '+p99 ms', 'req/s', 'x floor', 'errors', 'cpu ms/req', 'peak RSS MB', 'other cpu %'];
  let previousBody: BodyKind | undefined;
  const lines = rows.map((r) => {
    const m = r.median;
    const label = `${r.target}${r.reference ? '*' : ''}`;
    const bodyCell = r.body === previousBody ? '' : BODY_LABEL[r.body];
    previousBody = r.body;
    return [
      bodyCell,
      FACE_LABEL[r.face],
      label,
      String(r.concurrency),
      cell(m.p50Ms, 1),
      cell(m.p99Ms, 1),
      r.target === 'direct' ? '' : cell(m.addedP50Ms, 2),
      r.target === 'direct' ? '' : cell(m.addedP99Ms, 1),
      r.unsupported ? 'fails' : cell(m.requestsPerSec, r.body === 'tiny' ? 0 : 1),
      r.unsupported ? '' : cell(m.floorRatio, 2),
      String(m.errors),
      cell(m.cpuMsPerRequest, 2),
      cell(m.peakRssMb, 0),
      // A reference row's figures were measured on the native rows above; a failing route was not measured.
      r.reference || r.unsupported ? '' : cell(m.foreignCpuPct, 0),
    ];
  });
  const notes = [
    '+p50/+p99: added latency, target minus direct-to-mock in the same run. x floor: throughput over the floor proxy\'s.',
    'cpu ms/req and peak RSS: of the proxy process (floor or gateway), from /proc (utime+stime; VmRSS every 50 ms).',
    'other cpu %: CPU used meanwhile by processes that are not the bench\'s, in % of one core (2 cores): above ~10 the row is disturbed.',
    '*: OpenAI face rows marked * are the native generateContent request for the same image (the mock has no OpenAI route);',
    '   the OpenAI gateway row is compared with them. edit: 3 x 1 MB reference images uploaded, tiny answer.',
  ];
  notes.push(...peerNotes(rows, peers.portkeyVersion));
  return `${table(header, lines, (i) => i >= 3)}\n${notes.join('\n')}`;
}

/** What a chat row and a peer's rows are, and why a peer's route failed: only when such rows are in the table. */
export function peerNotes(rows: readonly Row[], portkeyVersion?: string): string[] {
  const notes: string[] = [];
  if (rows.some((r) => r.face === 'chat')) {
    notes.push('openai-chat: POST /v1/chat/completions asking for one image (modalities, image_config.image_size), the image as a data URL in the answer.');
  }
  if (!rows.some((r) => r.target === 'portkey')) return notes;
  notes.push(
    `portkey: Portkey's open-source gateway${portkeyVersion ? ` ${portkeyVersion}` : ''} (npm @portkey-ai/gateway, its own process, NODE_ENV=production --headless;`,
    '   its cpu ms/req and peak RSS are of that process), provider google pointed at the mock by x-portkey-custom-host, Google\'s key as Bearer;',
    '   chat with x-portkey-strict-open-ai-compliance: false (in its default strict mode it drops the image from the answer);',
    '   openai on its /v1/images paths; native on its /v1/ pass-through (Google\'s SDK with base URL PORTKEY/v1; /v1beta/... itself is a 404).',
    '   "fails": every probe request failed (errors = probe requests, summed over runs), so the route was not measured:',
  );
  const failing = rows.filter((r) => r.target === 'portkey' && r.unsupported);
  const seen = new Set<string>();
  for (const r of failing) {
    const key = `${r.face}|${r.firstError ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const bodies = failing.filter((f) => f.face === r.face && f.firstError === r.firstError).map((f) => BODY_LABEL[f.body].split(' ')[0]);
    notes.push(`     portkey ${FACE_LABEL[r.face]} (${bodies.join(', ')}): ${r.firstError ?? 'no answer'}`);
  }
  if (failing.length === 0) notes.pop();
  return notes;
}

export function formatMemoryTable(memory: readonly MemoryRow[]): string {
  const header = ['in flight', 'face', 'target', 'requests', 'errors', 'p50 ms', 'RSS before MB', 'peak RSS MB'];
  const lines = memory.map((m) => [
    `${m.inFlight} x 4K`,
    FACE_LABEL[m.face],
    m.target,
    String(m.completed),
    String(m.errors),
    cell(m.p50Ms, 0),
    cell(m.startRssMb, 0),
    cell(m.peakRssMb, 0),
  ]);
  const restarted = memory.some((m) => m.target === 'portkey') ? 'floor, gateway and portkey' : 'floor and gateway';
  // Only for the rows --peers (or --faces chat) adds: the default table stays as it was.
  const firstErrors = memory.filter((m) => (m.target === 'portkey' || m.face === 'chat') && m.errors > 0 && m.firstError).map((m) => `  ${m.inFlight} x 4K ${FACE_LABEL[m.face]} ${m.target}: ${m.firstError}`);
  return `${table(header, lines, (i) => i >= 3)}\n(${restarted} restarted before each; RSS of the proxy process, sampled from /proc every 50 ms)${firstErrors.length > 0 ? `\n${firstErrors.join('\n')}` : ''}`;
}

export function formatAdmissionTable(rows: readonly AdmissionRow[]): string {
  const header = ['quota store', 'mode', 'admissions', 'per s', 'p50 ms', 'p99 ms', 'scripts/admission'];
  const lines = rows.map((r) => [r.store === 'redis' ? 'redis (local)' : r.store, r.mode, String(r.admissions), cell(r.perSecond, 0), cell(r.p50Ms, 3), cell(r.p99Ms, 3), cell(r.scriptsPerAdmission, 3)]);
  return `${table(header, lines, (i) => i >= 2)}
(QuotaService.admit in this process; redis-server private, on loopback; nothing refused)`;
}

export function formatLedgerTable(rows: readonly LedgerRow[]): string {
  const header = ['ledger database', 'records/round', 'records/s per round', 'median records/s'];
  const lines = rows.map((r) => [r.database, String(r.records), r.skipped ?? r.rates.map((x) => Math.round(x).toLocaleString('en-US')).join(' / '), cell(r.medianPerSecond, 0)]);
  return `${table(header, lines, (i) => i === 1 || i === 3)}
(UsageLedger.flush() in batches of 1000; PostgreSQL in a throwaway database)`;
}

export function formatChecks(checks: readonly Check[]): string {
  const lines = checks.map((c) => [c.pass === null ? 'n/a' : c.pass ? 'PASS' : 'MISS', c.target, c.measured, c.limit]);
  return table(['verdict', 'target (issue, against the floor of the same run)', 'measured', 'limit'], lines, (i) => i >= 2);
}
