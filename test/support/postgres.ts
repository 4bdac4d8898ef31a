import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

/** Runs `fn` with a fresh client of `url`, closed afterwards. */
export async function withPgClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface ThrowawayPostgres {
  url: string;
  drop(): Promise<void>;
}

const LOCAL_URL = 'postgres://postgres@127.0.0.1:5432/test';

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Creates a database of its own on the server at `adminUrl`; drop() removes it. */
async function createDatabaseOn(adminUrl: string, onDrop: () => void = () => {}): Promise<ThrowawayPostgres> {
  const name = `nanogate_test_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    url: withDatabase(adminUrl, name),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      try {
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end().catch(() => {});
        onDrop();
      }
    },
  };
}

/** A private cluster made with initdb/pg_ctl, for machines with the binaries but no server. */
async function startPrivateCluster(): Promise<ThrowawayPostgres | undefined> {
  const bin = ['/usr/local/bin', '/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'].find(
    (d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')),
  );
  if (!bin) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-pg-'));
  const port = await freePort();
  // initdb refuses to run as root; run it as the postgres user when we are root.
  const asPostgres = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    asPostgres
      ? spawnSync('su', ['postgres', '-s', '/bin/sh', '-c', [join(bin, cmd), ...args].map((a) => `'${a}'`).join(' ')], { stdio: 'ignore' })
      : spawnSync(join(bin, cmd), args, { stdio: 'ignore' });
  if (asPostgres) spawnSync('chown', ['postgres', dir]);
  if (run('initdb', ['-D', dir, '-U', 'postgres', '--auth=trust']).status !== 0) return undefined;
  const started = run('pg_ctl', ['-D', dir, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, '-w', 'start']);
  if (started.status !== 0) return undefined;
  const stop = () => {
    run('pg_ctl', ['-D', dir, '-m', 'immediate', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    return await createDatabaseOn(`postgres://postgres@127.0.0.1:${port}/postgres`, stop);
  } catch {
    stop();
    return undefined;
  }
}

export async function createThrowawayPostgres(fromUrl: string | undefined): Promise<ThrowawayPostgres | undefined> {
  if (fromUrl) return createDatabaseOn(fromUrl);
  if (await reachable(LOCAL_URL)) return createDatabaseOn(LOCAL_URL);
  return startPrivateCluster();
}
