/**
 * The built gateway (dist/main.js, as `npm start` runs it) as a child process, for fault tests
 * where a crash must show as the process exiting rather than as a failed assertion inside a
 * shared test process. Each child gets its own folder: config file, SQLite file and TMPDIR, so
 * leftover spool folders are visible and belong to it alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const REPO = resolve(import.meta.dirname, '..', '..');
/** The production build; NANOGATE_MAIN points the suites at another build (an older commit's, to see a test catch a bug). */
const MAIN = process.env.NANOGATE_MAIN ?? join(REPO, 'dist', 'main.js');

export interface GatewayProcessOptions {
  /** The whole config file; `$DB_PATH` becomes this child's SQLite file. */
  configYaml: string;
  /** REDIS_URL, DATABASE_URL, ... added to the child's environment. */
  env?: Record<string, string>;
  adminToken?: string;
  logLevel?: string;
  startTimeoutMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface GatewayProcess {
  /** http://127.0.0.1:PORT */
  url: string;
  pid: number;
  /** Holds the config, the SQLite file and tmp/. */
  dir: string;
  /** The child's TMPDIR. */
  tmpDir: string;
  dbPath: string;
  exited: Promise<ExitStatus>;
  alive(): boolean;
  stdout(): string;
  stderr(): string;
  /** stdout's pino lines, parsed (lines that are not JSON are skipped). */
  logLines(): Array<Record<string, unknown>>;
  /** VmRSS from /proc/<pid>/status, in KiB; undefined once the process is gone. */
  rssKb(): number | undefined;
  /**
   * The child's answer spools: spool files it holds open (they are unlinked once open, so only
   * /proc shows them) and any nanogate-spool-* entry left in its TMPDIR.
   */
  spools(): string[];
  /** SIGTERM, then waits for the exit (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<ExitStatus>;
  /** SIGKILL (if still running) and removes the folder. Safe to call more than once. */
  dispose(): Promise<void>;
  /** What a failed assertion should show: exit status and the tail of stderr and stdout. */
  describe(): string;
}

const running = new Set<ChildProcess>();
// A test worker that dies mid-test must not leave gateways behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startGatewayProcess(opts: GatewayProcessOptions): Promise<GatewayProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-gwproc-'));
  const tmpDir = join(dir, 'tmp');
  mkdirSync(tmpDir);
  const dbPath = join(dir, 'nanogate.db');
  const configPath = join(dir, 'gateway.yaml');
  writeFileSync(configPath, opts.configYaml.replaceAll('$DB_PATH', dbPath));

  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '',
      TMPDIR: tmpDir,
      GATEWAY_CONFIG: configPath,
      // Port 0: the OS picks one; the `listening` line says which.
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: opts.logLevel ?? 'info',
      ...(opts.adminToken ? { ADMIN_TOKEN: opts.adminToken } : {}),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  let status: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((done) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      status = { code, signal };
      for (const w of waiters) w();
      done(status);
    }),
  );

  const describe = () =>
    `gateway pid ${child.pid} ${status ? `exited (code ${status.code}, signal ${status.signal})` : 'running'}\n` +
    `--- stderr (tail) ---\n${err.slice(-4000)}\n--- stdout (tail) ---\n${out.slice(-3000)}`;

  const address = await new Promise<string>((resolveAddress, reject) => {
    const timer = setTimeout(() => finish(new Error(`gateway did not log "listening" within ${opts.startTimeoutMs ?? 20_000} ms\n${describe()}`)), opts.startTimeoutMs ?? 20_000);
    const check = () => {
      const m = /"address":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/.exec(out);
      if (m?.[1]) finish(undefined, m[1]);
      else if (status) finish(new Error(`gateway exited before listening\n${describe()}`));
    };
    function finish(e: Error | undefined, a?: string) {
      clearTimeout(timer);
      waiters.delete(check);
      if (e) reject(e);
      else resolveAddress(a!);
    }
    waiters.add(check);
    check();
  }).catch(async (e: unknown) => {
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });

  let disposed = false;
  const stop = async (timeoutMs = 30_000): Promise<ExitStatus> => {
    if (status) return status;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    url: address,
    pid: child.pid!,
    dir,
    tmpDir,
    dbPath,
    exited,
    alive: () => status === undefined,
    stdout: () => out,
    stderr: () => err,
    logLines: () =>
      out.split('\n').flatMap((line) => {
        if (!line.startsWith('{')) return [];
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    rssKb: () => {
      if (status) return undefined;
      try {
        const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m?.[1] ? Number(m[1]) : undefined;
      } catch {
        return undefined;
      }
    },
    spools: () => [...openSpoolFiles(child.pid!), ...(existsSync(tmpDir) ? readdirSync(tmpDir).filter((n) => n.startsWith('nanogate-spool-')) : [])],
    stop,
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      if (!status) {
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
    describe,
  };
}

export interface LedgerRow {
  id: string;
  request_id: string;
  route: string;
  http_status: number;
  flags: string;
  cost_nano_usd: number;
}

/** Usage records in a gateway's SQLite file (read-only; safe while the gateway writes: WAL). */
export function sqliteRecords(dbPath: string): LedgerRow[] {
  if (!existsSync(dbPath)) return [];
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    return db.prepare('SELECT id, request_id, route, http_status, flags, cost_nano_usd FROM usage_records ORDER BY time_ms, id').all() as unknown as LedgerRow[];
  } catch (e) {
    // The table appears with the first migration; before that there is nothing to read.
    if (/no such table/.test(String(e))) return [];
    throw e;
  } finally {
    db.close();
  }
}

/** How many records each request id has. */
export function countByRequest(rows: ReadonlyArray<Pick<LedgerRow, 'request_id'>>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.request_id, (counts.get(r.request_id) ?? 0) + 1);
  return counts;
}

/** One line per request whose record count is not the expected one (empty when all match). */
export function recordCountMismatches(
  expected: ReadonlyMap<string, number>,
  rows: ReadonlyArray<Pick<LedgerRow, 'request_id'>>,
  label: (requestId: string) => string = (id) => id,
): string[] {
  const found = countByRequest(rows);
  return [...expected].filter(([id, n]) => (found.get(id) ?? 0) !== n).map(([id, n]) => `${label(id)}: expected ${n} records, found ${found.get(id) ?? 0}`);
}

export function flagsOf(row: Pick<LedgerRow, 'flags'>): string[] {
  return String(row.flags ?? '')
    .split(',')
    .filter((f) => f !== '');
}

/**
 * Polls `probe` until it returns a value other than undefined, or `timeoutMs` passes (then the
 * last value is undefined). For state outside this process (a child's database, its folders),
 * which sends no event to await.
 */
export async function pollUntil<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs = 25): Promise<T | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Targets of the process's open descriptors that are spool files ("…/nanogate-spool-… (deleted)"). */
function openSpoolFiles(pid: number): string[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.includes('nanogate-spool-')) found.push(target);
    } catch {
      // closed while we looked
    }
  }
  return found;
}
