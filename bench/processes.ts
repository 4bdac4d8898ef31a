/**
 * The processes under bench, each its own OS process so /proc accounts its CPU and memory apart
 * from the load generator's: the mock upstream, the floor proxy, the gateway's production build,
 * and with --peers Portkey's open-source gateway.
 * Every process started here is stopped by `stopAll` (and killed on the way out if the bench
 * itself dies), so a run leaves nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { request } from 'undici';
import { freePort } from '../test/support/free-port.js';

export interface Started {
  name: string;
  url: string;
  pid: number;
  /** How it ended if it ended before stop() was called ('exit code 1', 'signal SIGABRT'), else undefined. */
  died(): string | undefined;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Tracks the child for the last-resort kill; returns how it died, if it dies unasked. */
function track(child: ChildProcess): () => string | undefined {
  running.add(child);
  let death: string | undefined;
  child.once('exit', (code, signal) => {
    running.delete(child);
    if (!stopRequested.has(child)) death = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  return () => death;
}

const stopRequested = new WeakSet<ChildProcess>();

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  stopRequested.add(child);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts `node script` and waits for the one JSON line {"url": ...} it prints when listening. */
function startAnnouncing(name: string, script: string, env: Record<string, string>, nodeArgs: readonly string[] = []): Promise<Started> {
  const child = spawn(process.execPath, [...nodeArgs, script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const died = track(child);
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onExit = (code: number | null) => reject(new Error(`${name} exited with ${code} before listening`));
    child.once('exit', onExit);
    child.stdout!.setEncoding('utf8');
    const onData = (text: string) => {
      buffered += text;
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      // Anything it prints later is not ours to read; keep the pipe from filling up.
      child.stdout!.resume();
      try {
        const { url } = JSON.parse(buffered.slice(0, newline)) as { url: string };
        resolve({ name, url, pid: child.pid!, died, stop: () => stopChild(child) });
      } catch (e) {
        void stopChild(child);
        reject(new Error(`${name} printed ${buffered.slice(0, newline)} instead of {"url": ...}: ${(e as Error).message}`));
      }
    };
    child.stdout!.on('data', onData);
  });
}

export interface MockImageBytes {
  '1K': number;
  '2K': number;
  '4K': number;
}

export function startMock(distRoot: string, apiKey: string, imageBase64Bytes: MockImageBytes): Promise<Started> {
  return startAnnouncing('mock', join(distRoot, 'test/mock-google/main.js'), {
    PORT: '0',
    HOST: '127.0.0.1',
    GOOGLE_API_KEYS: apiKey,
    IMAGE_BYTES_1K: String(imageBase64Bytes['1K']),
    IMAGE_BYTES_2K: String(imageBase64Bytes['2K']),
    IMAGE_BYTES_4K: String(imageBase64Bytes['4K']),
    // No imageSize in the request: the 1x1 PNG (the "tiny" body).
    IMAGE_BYTES_DEFAULT: '0',
  });
}

export function startFloor(distRoot: string, upstreamUrl: string, nodeArgs: readonly string[] = []): Promise<Started> {
  return startAnnouncing('floor', join(distRoot, 'bench/floor-proxy.js'), { UPSTREAM_URL: upstreamUrl, PORT: '0', HOST: '127.0.0.1' }, nodeArgs);
}

export interface GatewayLaunch {
  /** dist/main.js of the production build. */
  mainJs: string;
  upstreamUrl: string;
  googleKey: string;
  tenantKey: string;
  models: readonly string[];
  redisUrl?: string;
  /** Node flags, e.g. npm start's and --cpu-prof. */
  nodeArgs?: string[];
  /** Environment npm start's script sets (MALLOC_ARENA_MAX). */
  env?: Record<string, string>;
  /** Where the log of a gateway that died unasked is kept (the temp folder is removed). */
  crashLogDir: string;
}

export interface StartedGateway extends Started {
  /** Lines the gateway logged at warn or above (it logs at info, like production, to a file). */
  problems(): string[];
  /** The last lines of its log. */
  logTail(lines: number): string;
}

function benchConfigYaml(opts: GatewayLaunch, dbPath: string): string {
  // Limits far beyond what a bench can reach: it measures the admitting path, never a refusal.
  const limits = opts.models.map((m) => `      ${m}: { rpm: 100000000, tpm: 2000000000, rpd: 1000000000, ipm: 100000000 }`).join('\n');
  const keyHash = `sha256:${createHash('sha256').update(opts.tenantKey, 'utf8').digest('hex')}`;
  return `upstream:
  baseUrl: \${GEMINI_BASE_URL}
  timeoutMs: 180000
  retries: 2
defaultModel: gemini-3-pro-image
projects:
  - id: bench
    apiKey: ${opts.googleKey}
    tier: tier3
    limits:
${limits}
tenants:
  - id: bench
    project: bench
    keys: ["${keyHash}"]
database:
  path: ${dbPath}
server:
  shutdownGraceMs: 2000
`;
}

async function waitHealthy(url: string, child: ChildProcess, logPath: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${readFileSync(logPath, 'utf8').slice(-2000)}`);
    try {
      const res = await request(`${url}/healthz`);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // Not listening yet.
    }
    await delay(50);
  }
  throw new Error('gateway did not answer /healthz within 15 s');
}

/**
 * `node dist/main.js` as `npm start` runs it, with a private config, SQLite file and log in a temp
 * folder. Logs go to a file rather than a pipe the bench would have to read (its CPU is the
 * load generator's), at info as in production.
 */
export async function startGateway(opts: GatewayLaunch): Promise<StartedGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-bench-'));
  const configPath = join(dir, 'gateway.yaml');
  const logPath = join(dir, 'gateway.log');
  writeFileSync(configPath, benchConfigYaml(opts, join(dir, 'nanogate.db')));
  const port = await freePort();
  const logFd = openSync(logPath, 'a');
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: String(port),
    HOST: '127.0.0.1',
    GATEWAY_CONFIG: configPath,
    GEMINI_BASE_URL: opts.upstreamUrl,
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    ...opts.env,
  };
  delete env.REDIS_URL;
  delete env.DATABASE_URL;
  delete env.ADMIN_TOKEN;
  if (opts.redisUrl) env.REDIS_URL = opts.redisUrl;
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.mainJs], { env, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const died = track(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, child, logPath);
  } catch (e) {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    name: 'gateway',
    url,
    pid: child.pid!,
    died,
    logTail: (n) => (existsSync(logPath) ? readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-n).join('\n') : ''),
    problems: () => {
      // Start-up warnings (no REDIS_URL, ...) are expected; what it logs under load is not.
      if (!existsSync(logPath)) return [];
      const lines = readFileSync(logPath, 'utf8').split('\n');
      const ready = lines.findIndex((line) => line.includes('"msg":"listening"'));
      return lines.slice(ready + 1).filter((line) => {
        const level = /"level":(\d+)/.exec(line)?.[1];
        return level !== undefined && Number(level) >= 40;
      });
    },
    stop: async () => {
      await stopChild(child, 10_000);
      if (died() !== undefined) {
        mkdirSync(opts.crashLogDir, { recursive: true });
        copyFileSync(logPath, join(opts.crashLogDir, `gateway-${child.pid}-crash.log`));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Portkey's open-source gateway as installed (a devDependency), or why it cannot be run. */
export type PortkeyInstall = { ok: true; version: string; script: string } | { ok: false; reason: string };

/** Finds `@portkey-ai/gateway` under `root`'s node_modules and the Node build its bin runs. */
export function findPortkey(root: string): PortkeyInstall {
  let manifestPath: string;
  try {
    manifestPath = createRequire(join(root, 'package.json')).resolve('@portkey-ai/gateway/package.json');
  } catch {
    return { ok: false, reason: '@portkey-ai/gateway is not installed (it is a devDependency: run npm ci)' };
  }
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version?: string; bin?: string | Record<string, string> };
    const bin = typeof manifest.bin === 'string' ? manifest.bin : Object.values(manifest.bin ?? {})[0];
    if (bin === undefined) return { ok: false, reason: `@portkey-ai/gateway ${manifest.version ?? '?'} names no bin to start` };
    const script = join(dirname(manifestPath), bin);
    if (!existsSync(script)) return { ok: false, reason: `@portkey-ai/gateway's bin ${script} is missing` };
    return { ok: true, version: manifest.version ?? 'unknown', script };
  } catch (e) {
    return { ok: false, reason: `@portkey-ai/gateway's package.json is unreadable: ${(e as Error).message}` };
  }
}

export interface StartedPeer extends Started {
  version: string;
  /** The last lines of its log (stdout and stderr). */
  logTail(lines: number): string;
}

/**
 * `node build/start-server.js --port=N --headless` as its README starts it (npx
 * @portkey-ai/gateway), with NODE_ENV=production as the gateway runs, under the same Node as
 * the bench. It has no host option and listens on every interface; the bench talks to it on
 * loopback only. Its console output goes to a file; ready once `GET /` answers 200.
 */
export async function startPortkey(install: Extract<PortkeyInstall, { ok: true }>, crashLogDir: string, nodeArgs: readonly string[] = []): Promise<StartedPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-bench-portkey-'));
  const logPath = join(dir, 'portkey.log');
  const port = await freePort();
  const logFd = openSync(logPath, 'a');
  const env: Record<string, string> = { ...(process.env as Record<string, string>), NODE_ENV: 'production' };
  delete env.PORT;
  const child = spawn(process.execPath, [...nodeArgs, install.script, `--port=${port}`, '--headless'], { cwd: dir, env, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const died = track(child);
  const url = `http://127.0.0.1:${port}`;
  const logTail = (n: number) => (existsSync(logPath) ? readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-n).join('\n') : '');
  try {
    let ready = false;
    for (let i = 0; i < 300 && !ready; i++) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`portkey exited (${died() ?? child.exitCode}) before listening:\n${logTail(20)}`);
      try {
        const res = await request(`${url}/`);
        await res.body.dump();
        ready = res.statusCode === 200;
      } catch {
        // Not listening yet.
      }
      if (!ready) await delay(50);
    }
    if (!ready) throw new Error(`portkey did not answer GET / within 15 s:\n${logTail(20)}`);
  } catch (e) {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    name: 'portkey',
    version: install.version,
    url,
    pid: child.pid!,
    died,
    logTail,
    stop: async () => {
      await stopChild(child);
      if (died() !== undefined && existsSync(logPath)) {
        mkdirSync(crashLogDir, { recursive: true });
        copyFileSync(logPath, join(crashLogDir, `portkey-${child.pid}-crash.log`));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
