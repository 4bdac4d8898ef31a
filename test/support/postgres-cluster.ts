/**
 * A private PostgreSQL cluster (initdb + pg_ctl on a free port, its own folder) that a test may
 * stop and start again: the machine's shared server on 5432 must never be stopped by a test.
 * The commands run asynchronously so the test process (and the mock Google inside it) keeps
 * serving while PostgreSQL starts or stops.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

export interface PostgresCluster {
  port: number;
  /** postgres://postgres@127.0.0.1:PORT/<db> */
  url(db: string): string;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Drops the database, closing every session on it. */
  dropDatabase(name: string): Promise<void>;
  /** pg_ctl stop -m fast: sessions are closed, the port stops answering. */
  stop(): Promise<void>;
  /** pg_ctl start -w, on the same port and folder. */
  start(): Promise<void>;
  /** Starts it unless it is running (after a test that failed while it was stopped). */
  ensureRunning(): Promise<void>;
  /** Stops it (immediate) and removes its folder. Safe to call more than once. */
  destroy(): void;
}

const BIN_DIRS = ['/usr/local/bin', '/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];

function findBin(): string | undefined {
  return BIN_DIRS.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
}

const alive = new Set<() => void>();
process.once('exit', () => {
  for (const destroy of alive) destroy();
});

/** Undefined when initdb/pg_ctl are not installed (the caller decides to skip or fail). */
export async function startPostgresCluster(): Promise<PostgresCluster | undefined> {
  const bin = findBin();
  if (!bin) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-pgcluster-'));
  const port = await freePort();
  // initdb refuses to run as root: run the commands as the postgres user then.
  const asPostgres = process.getuid?.() === 0;
  const argv = (cmd: string, args: string[]): [string, string[]] =>
    asPostgres ? ['su', ['postgres', '-s', '/bin/sh', '-c', [join(bin, cmd), ...args].map((a) => `'${a}'`).join(' ')]] : [join(bin, cmd), args];
  const exitCode = (cmd: string, args: string[]): Promise<number | null> =>
    new Promise((resolve, reject) => {
      const [file, list] = argv(cmd, args);
      // stdio ignored: the server pg_ctl starts must not hold our pipes open.
      const child = spawn(file, list, { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', (code) => resolve(code));
    });
  const run = async (cmd: string, args: string[]): Promise<void> => {
    const code = await exitCode(cmd, args);
    if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code} (log: ${join(dir, 'server.log')})`);
  };
  const runSync = (cmd: string, args: string[]) => {
    const [file, list] = argv(cmd, args);
    spawnSync(file, list, { stdio: 'ignore' });
  };
  if (asPostgres) spawnSync('chown', ['postgres', dir]);
  const dataDir = join(dir, 'data');
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const start = () => run('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-o', options, '-w', '-t', '60', 'start']);
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    alive.delete(destroy);
    runSync('pg_ctl', ['-D', dataDir, '-m', 'immediate', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync']);
    await start();
  } catch {
    destroy();
    return undefined;
  }
  alive.add(destroy);
  const url = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: url('postgres') });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  return {
    port,
    url,
    async createDatabase(name) {
      await admin(`CREATE DATABASE ${name}`);
      return url(name);
    },
    dropDatabase: (name) => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    stop: () => run('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']),
    start,
    async ensureRunning() {
      // pg_ctl status: 0 when the server runs, 3 when it does not.
      if ((await exitCode('pg_ctl', ['-D', dataDir, 'status'])) !== 0) await start();
    },
    destroy,
  };
}
