/**
 * #12: the real process, started as an operator starts it (`npm start`, `node dist/main.js`,
 * `bin/nanogate.js`): SIGTERM to `npm start` drains and stops the gateway; the start line;
 * fatal starts that name the part that failed; safe defaults (the dev key on 127.0.0.1, short
 * admin tokens refused, the ops port). Production build in dist/ (built by `pretest`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { MIGRATIONS } from '../../src/db/migrations/index.js';
import { DEV_KEY_HASH, hashKey } from '../../src/tenants/keys.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { freePort } from '../support/free-port.js';
import { pollUntil } from '../support/gateway-process.js';
import { createThrowawayPostgres, type ThrowawayPostgres } from '../support/postgres.js';
import { startRedisServer, type RunningRedis } from '../support/redis-server.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const GOOGLE_KEY = 'start-google-key';
const TENANT_KEY = 'start-tenant-key';
const ADMIN_TOKEN = 'start-admin-token-0123456789abcdef0123';
const START_TIMEOUT_MS = 20_000;

interface Started {
  child: ChildProcess;
  exited: Promise<number | null>;
  out(): string;
  err(): string;
  /** stdout's JSON lines, parsed. */
  lines(): Array<Record<string, unknown>>;
  /** Resolves with the match once stdout matches, or rejects at the deadline or when the process exits. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

const children = new Set<ChildProcess>();
/** Gateways started by a child (npm start), which a failed test must not leave running. */
const grandchildren = new Set<number>();
const dirs: string[] = [];
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  for (const pid of grandchildren) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already: the test passed
    }
  }
  grandchildren.clear();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-start-'));
  dirs.push(dir);
  return dir;
}

/** `command args` in the repo with only PATH and `env`; stdout and stderr kept. */
function spawnIn(command: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(command, args, { cwd: REPO, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const l of listeners) l();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  let done = false;
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      done = true;
      children.delete(child);
      for (const l of listeners) l();
      r(code);
    }),
  );
  const lines = () =>
    out.split('\n').flatMap((l) => {
      try {
        return l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  const waitFor = (pattern: RegExp, timeoutMs = START_TIMEOUT_MS) =>
    new Promise<RegExpExecArray>((resolveMatch, reject) => {
      const check = () => {
        const m = pattern.exec(out);
        if (m) finish(undefined, m);
        else if (done) finish(new Error(`exited before printing ${pattern}\nstderr: ${err}\nstdout: ${out}`));
      };
      const timer = setTimeout(() => finish(new Error(`no ${pattern} within ${timeoutMs} ms\nstderr: ${err}\nstdout: ${out}`)), timeoutMs);
      function finish(e: Error | undefined, m?: RegExpExecArray) {
        clearTimeout(timer);
        listeners.delete(check);
        if (e) reject(e);
        else resolveMatch(m!);
      }
      listeners.add(check);
      check();
    });
  return { child, exited, out: () => out, err: () => err, lines, waitFor };
}

const startMain = (env: Record<string, string>) => spawnIn(process.execPath, ['--disable-warning=ExperimentalWarning', 'dist/main.js'], env);
const LISTENING = /"address":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/;

function configFile(yaml: string): { file: string; dir: string } {
  const dir = tempDir();
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, yaml.replaceAll('$DIR', dir));
  return { file, dir };
}

const baseConfig = (upstream: string, extra = '') => `
upstream: { baseUrl: "${upstream}", retries: 0 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
tenants:
  - id: t
    project: default
    keys: ["${hashKey(TENANT_KEY)}"]
database:
  path: $DIR/n.db
${extra}`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portRefuses(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((r) => {
    const s = connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      r(false);
    });
    s.once('error', () => r(true));
  });
}

let mock: MockGoogle;
beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
});
afterAll(async () => {
  await mock?.close();
});

describe('npm start under a process manager', () => {
  it('drains and stops the gateway when npm start gets SIGTERM: the in-flight call finishes, node exits, the port is freed, exit 0', async () => {
    const { file } = configFile(baseConfig(mock.url));
    const port = await freePort();
    const npm = spawnIn('npm', ['start'], { GATEWAY_CONFIG: file, PORT: String(port), HOST: '127.0.0.1' });
    await npm.waitFor(LISTENING);
    const nodePid = Number(npm.lines().find((l) => l['msg'] === 'listening')?.['pid']);
    expect(nodePid).toBeGreaterThan(0);
    grandchildren.add(nodePid);
    expect(nodePid).not.toBe(npm.child.pid);

    mock.enqueue({ kind: 'delay', ms: 400 });
    const inFlight = request(`http://127.0.0.1:${port}/v1beta/models/nano-banana-pro:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': TENANT_KEY, 'content-type': 'application/json' },
      body: '{"contents":[{"parts":[{"text":"a banana"}]}]}',
    });
    expect(await pollUntil(() => mock.openRequests() === 1 || undefined, 10_000)).toBe(true);
    npm.child.kill('SIGTERM');

    const answer = await inFlight;
    expect(answer.statusCode).toBe(200);
    await answer.body.dump();
    expect(await npm.exited).toBe(0);
    expect(await pollUntil(() => !alive(nodePid) || undefined, 10_000)).toBe(true);
    expect(await portRefuses(port)).toBe(true);
    expect(npm.out()).toContain('"msg":"stopped"');
  });
});

describe('a gateway whose stdout reader is gone (a process manager killed under it)', () => {
  it('still stops on SIGTERM, exit 0, instead of retrying the write to a broken pipe for ever', async () => {
    const { file } = configFile(baseConfig(mock.url));
    const p = startMain({ GATEWAY_CONFIG: file, PORT: '0', HOST: '127.0.0.1' });
    await p.waitFor(LISTENING);
    // The read side goes away: the gateway's next write to stdout fails with EPIPE.
    p.child.stdout!.destroy();
    p.child.kill('SIGTERM');
    const code = await Promise.race([p.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000).unref())]);
    expect(code).toBe(0);
  });
});

describe('the start line', () => {
  let redis: RunningRedis;
  /** A database of this test's own: the suite's is shared, and its tenants would count too. */
  let pgDb: ThrowawayPostgres | undefined;
  beforeAll(async () => {
    // A user with a password (the default user keeps none, so the suite's PING still works).
    redis = await startRedisServer(['--user', 'app', 'on', '>redis-s3cret', '~*', '&*', '+@all']);
    const pgUrl = inject('pgUrl');
    if (pgUrl) pgDb = await createThrowawayPostgres(pgUrl);
  });
  afterAll(async () => {
    await redis?.stop();
    await pgDb?.drop();
  });

  it('comes after the warnings and names version, config, address, store and database without passwords, admin, tenants, keys and projects', async () => {
    const { file } = configFile(`
upstream: { baseUrl: "${mock.url}" }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier1
  - id: trial
    apiKey: ""
    tier: free
tenants:
  - id: a
    project: default
    keys: ["${hashKey('k1')}", "${hashKey('k2')}"]
  - id: b
    project: trial
    keys: ["${hashKey('k3')}"]
database:
  path: $DIR/n.db
`);
    const pgUrl = pgDb?.url;
    const redisUrl = `redis://app:redis-s3cret@127.0.0.1:${redis.port}`;
    const p = startMain({ GATEWAY_CONFIG: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL: redisUrl, ADMIN_TOKEN, ...(pgUrl ? { DATABASE_URL: pgUrl } : {}) });
    const [, address] = await p.waitFor(LISTENING);
    const m = await p.waitFor(/"msg":"(nanogate [^"]+)"/);
    const line = m[1]!;
    const version = (JSON.parse(spawnSync('cat', ['package.json'], { cwd: REPO, encoding: 'utf8' }).stdout) as { version: string }).version;
    expect(line).toContain(`nanogate ${version} listening on ${address}`);
    expect(line).toContain(`config ${file}`);
    expect(line).toContain(`quota store: Redis redis://127.0.0.1:${redis.port}`);
    if (pgUrl) {
      const db = new URL(pgUrl);
      expect(line).toContain(`database: PostgreSQL ${db.hostname}:${db.port || '5432'}${db.pathname}`);
      if (db.password) expect(line).not.toContain(db.password);
    } else expect(line).toMatch(/database: SQLite \S+n\.db/);
    expect(line).toContain('admin API: on');
    expect(line).toContain('2 tenants with 3 keys');
    // Image models have no free tier: the trial project can call none of them.
    expect(line).toMatch(/projects: default \(tier1, [1-9]\d* models?\), trial \(free, 0 models\)/);
    expect(line).not.toContain('redis-s3cret');
    expect(line).not.toContain(ADMIN_TOKEN);
    // After every warning of the start.
    const lines = p.lines();
    const at = lines.findIndex((l) => String(l['msg']).startsWith('nanogate '));
    expect(lines.slice(at + 1).filter((l) => Number(l['level']) >= 40)).toEqual([]);
    expect(lines.slice(0, at).some((l) => l['level'] === 40 && String(l['msg']).includes('no Google API key'))).toBe(true);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('says which migrations it applied on a new database, and that the schema is current on the next start', async () => {
    const { file } = configFile(baseConfig(mock.url));
    // Every migration there is, whatever their number: a new one must not break this test.
    const latest = Math.max(...MIGRATIONS.map((m) => m.version));
    const applied = new RegExp(`database: applied ${MIGRATIONS.length} migration\\(s\\), schema now at version ${latest}`);
    for (const expected of [applied, new RegExp(`database: schema up to date at version ${latest}`)]) {
      const p = startMain({ GATEWAY_CONFIG: file, PORT: '0', HOST: '127.0.0.1' });
      await p.waitFor(LISTENING);
      expect(p.out()).toMatch(expected);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    }
  });
});

describe('log lines on a terminal', () => {
  // util-linux `script` gives the gateway a pseudo-terminal as stdout.
  const hasScript = spawnSync('script', ['--version']).status === 0;

  it.skipIf(!hasScript)('are human-readable on a terminal, and JSON there under NODE_ENV=production', async () => {
    const { file } = configFile(baseConfig(mock.url));
    const command = `${process.execPath} --disable-warning=ExperimentalWarning dist/main.js`;
    for (const production of [false, true]) {
      const p = spawnIn('script', ['-qec', command, '/dev/null'], { GATEWAY_CONFIG: file, PORT: '0', HOST: '127.0.0.1', ...(production ? { NODE_ENV: 'production' } : {}) });
      const [line] = await p.waitFor(/^.*nanogate \d\S* listening on .*$/m);
      if (production) expect(line).toMatch(/^\{"level":30,/);
      else expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] .*INFO.*: .*nanogate \d/);
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });
});

describe('a start that fails names the part that failed, in one line, exit 1', () => {
  it.each([
    ['the database', (port: number) => ({ DATABASE_URL: `postgres://nanogate:pg-s3cret@127.0.0.1:${port}/nanogate` }), '', /^nanogate: database: connect ECONNREFUSED 127\.0\.0\.1:(\d+) \(DATABASE_URL\)$/],
    ['Redis under deny', (port: number) => ({ REDIS_URL: `redis://127.0.0.1:${port}` }), 'store: { onFailure: deny }', /^nanogate: redis: connect ECONNREFUSED 127\.0\.0\.1:(\d+) \(REDIS_URL: Redis redis:\/\/127\.0\.0\.1:\d+\); store\.onFailure is deny/],
    ['a REDIS_URL that is not one, under deny', () => ({ REDIS_URL: 'http://cache.internal:6379' }), 'store: { onFailure: deny }', /^nanogate: redis: REDIS_URL has the scheme http:\/\/ /],
    ['the config', () => ({}), 'server: { opsPort: 70000 }', /^nanogate: config: \S+: server\.opsPort: must be a port number \(1-65535\)$/],
    ['a short ADMIN_TOKEN', () => ({ ADMIN_TOKEN: 'admin-secret' }), '', /^nanogate: config: ADMIN_TOKEN has 12 characters; it must have at least 32 /],
  ])('%s', async (_part, env, extra, expected) => {
    const port = await freePort();
    const { file } = configFile(baseConfig(mock.url, extra));
    const p = startMain({ GATEWAY_CONFIG: file, PORT: '0', HOST: '127.0.0.1', ...env(port) });
    expect(await p.exited).toBe(1);
    const lines = p.err().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
    expect(p.err()).not.toContain('s3cret');
    expect(p.out()).not.toContain('"msg":"listening"');
  });

  it('starts, with an error line and /readyz degraded, when Redis does not answer under onFailure local', async () => {
    const port = await freePort();
    const { file } = configFile(baseConfig(mock.url));
    const p = startMain({ GATEWAY_CONFIG: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL: `redis://127.0.0.1:${port}` });
    const [, address] = await p.waitFor(LISTENING);
    const error = p.lines().find((l) => l['level'] === 50);
    expect(error?.['msg']).toMatch(/^redis: connect ECONNREFUSED 127\.0\.0\.1:\d+ \(REDIS_URL: Redis redis:\/\/127\.0\.0\.1:\d+\); counting in this instance's memory until it answers/);
    const ready = await request(`${address}/readyz`);
    expect(ready.statusCode).toBe(200);
    const body = (await ready.body.json()) as { status: string; checks: Record<string, string> };
    expect(body.status).toBe('degraded');
    expect(body.checks['store']).toMatch(/^degraded: counting in this instance's memory: /);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('starts with an error line, counting locally for good, when REDIS_URL is not a URL under onFailure local', async () => {
    const { file } = configFile(baseConfig(mock.url));
    const p = startMain({ GATEWAY_CONFIG: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL: 'cache.internal:six' });
    const [, address] = await p.waitFor(LISTENING);
    expect(p.lines().find((l) => l['level'] === 50)?.['msg']).toMatch(/^redis: REDIS_URL: "cache\.internal:six" is neither a redis:\/\/ URL nor a Redis Cluster node .*for as long as this process runs/);
    const ready = (await (await request(`${address}/readyz`)).body.json()) as { checks: Record<string, string> };
    expect(ready.checks['store']).toContain('is neither a redis:// URL');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });
});

describe('safe by default', () => {
  const devConfig = () => configFile(baseConfig(mock.url).replace(`keys: ["${hashKey(TENANT_KEY)}"]`, `keys: ["${DEV_KEY_HASH}"]`));
  const otherAddress = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

  it('listens on 127.0.0.1 only while the well-known dev key is configured and HOST is unset, and says so', async () => {
    const { file } = devConfig();
    const port = await freePort();
    const p = startMain({ GATEWAY_CONFIG: file, PORT: String(port) });
    const [, address] = await p.waitFor(LISTENING);
    expect(address).toBe(`http://127.0.0.1:${port}`);
    expect(p.out()).toMatch(/"level":40[^\n]*"msg":"the well-known development key is configured: listening on 127\.0\.0\.1 only/);
    expect(p.out()).toContain(`listening on http://127.0.0.1:${port} |`);
    if (otherAddress) expect(await portRefuses(port, otherAddress)).toBe(true);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('listens where HOST says, dev key or not', async () => {
    const { file } = devConfig();
    const port = await freePort();
    const p = startMain({ GATEWAY_CONFIG: file, PORT: String(port), HOST: '0.0.0.0' });
    await p.waitFor(LISTENING);
    expect(p.out()).toContain(`listening on http://0.0.0.0:${port} |`);
    expect(p.out()).not.toContain('listening on 127.0.0.1 only');
    if (otherAddress) expect(await portRefuses(port, otherAddress)).toBe(false);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('serves /healthz, /readyz, /metrics and /admin on server.opsPort only, and the faces on PORT only', async () => {
    const opsPort = await freePort();
    const { file } = configFile(baseConfig(mock.url, `server: { opsPort: ${opsPort} }`));
    const p = startMain({ GATEWAY_CONFIG: file, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN });
    const [, address] = await p.waitFor(LISTENING);
    const ops = `http://127.0.0.1:${opsPort}`;
    expect(p.out()).toContain(`ops (health, metrics, admin) on ${ops}`);
    const status = async (url: string, headers: Record<string, string> = {}) => {
      const res = await request(url, { headers });
      await res.body.dump();
      return res.statusCode;
    };
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    expect(await status(`${ops}/healthz`)).toBe(200);
    expect(await status(`${ops}/readyz`)).toBe(200);
    expect(await status(`${ops}/metrics`)).toBe(200);
    expect(await status(`${ops}/admin/tenants`, admin)).toBe(200);
    expect(await status(`${ops}/v1/models`, { authorization: `Bearer ${TENANT_KEY}` })).toBe(404);
    for (const path of ['/healthz', '/readyz', '/metrics', '/admin/tenants', '/%61dmin/tenants']) expect(await status(`${address}${path}`, admin)).toBe(404);
    expect(await status(`${address}/v1/models`, { authorization: `Bearer ${TENANT_KEY}` })).toBe(200);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(await portRefuses(opsPort)).toBe(true);
  });
});

describe('on a Node without node:sqlite', () => {
  // The machine's own node, when it is older than the pinned one (this image: v20).
  const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find(
    (n) => spawnSync(n, ['-e', "process.exit(require('node:module').isBuiltin('node:sqlite') ? 0 : 3)"]).status === 3,
  );

  it.skipIf(!oldNode)('bin/nanogate says which Node it needs', () => {
    const r = spawnSync(oldNode!, ['bin/nanogate.js', 'check-config'], { cwd: REPO, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^nanogate needs Node\.js 22\.13 or later \(it uses node:sqlite\); this is Node\.js v\d+/);
  });

  it.skipIf(!oldNode)('the gateway says which Node it needs instead of failing deep inside', () => {
    const { file } = configFile(baseConfig(mock.url));
    const r = spawnSync(oldNode!, ['dist/main.js'], { cwd: REPO, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', GATEWAY_CONFIG: file, PORT: '0' } });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^nanogate: database: this Node\.js \(v\d+[.\d]*\) has no node:sqlite, .* Node\.js 22\.13 or later/);
  });
});
