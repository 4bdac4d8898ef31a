/**
 * The processes of one bench run and their lifecycle: the mock (for the whole run), the floor and
 * the gateway (restarted for each body, so a body's peak RSS is its own), optionally a private
 * redis-server, and with --peers Portkey's gateway (restarted with the others). A gateway or
 * peer that dies is a finding, not the end of the run: its log is kept, the death noted, and
 * another one started. A peer that cannot be started is left out with a line saying why.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { rssBytes } from './proc-stats.js';
import { startCommand } from './start-command.js';
import { join } from 'node:path';
import { loadModelTable } from '../src/models/model-table.js';
import { startRedisServer, type RunningRedis } from '../test/support/redis-server.js';
import { loadPool, runLoad, type RequestSpec } from './load.js';
import { findPortkey, startFloor, startGateway, startMock, startPortkey, type PortkeyInstall, type Started, type StartedGateway, type StartedPeer } from './processes.js';
import { findPid } from './proc-stats.js';
import { ANSWER_BASE64_BYTES, GOOGLE_KEY, minAnswerBytes, TENANT_KEY, type Face, type RequestBook } from './scenarios.js';

export interface StackSettings {
  /** The repository root: dist/main.js is the gateway's production build. */
  root: string;
  /** Where tsconfig.bench.json compiled the floor and the mock. */
  distBench: string;
  redis: boolean;
  /** --cpu-prof for the floor and the gateway, profiles in DIR/floor and DIR/gateway. */
  profileDir?: string;
  /** Where a dead gateway's log is kept. */
  crashLogDir: string;
  /** Tiny requests per face after each restart, so the JIT is not paid inside a segment. */
  warmMs: number;
  faces: readonly Face[];
  /** Start Portkey's gateway beside nanogate (--peers). */
  peers?: boolean;
  progress(text: string): void;
}

/** What became of --peers: the peer's version (and why it left, if it left mid-run), or why it is not in the run. */
export type PeerStatus = { name: 'portkey'; started: true; version: string; lost?: string } | { name: 'portkey'; started: false; reason: string };

/** Which proxy died during a segment, and how. */
export type Deaths = Partial<Record<'gateway' | 'portkey', string>>;

export interface GatewayDeath {
  run: number;
  during: string;
  how: string;
  pid: number;
  logTail: string;
}

function profileArgs(dir: string | undefined, name: string): string[] {
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`] : [];
}

export class BenchStack {
  readonly #settings: StackSettings;
  readonly mock: Started;
  readonly #redis: RunningRedis | undefined;
  readonly #redisPid: number | undefined;
  floor: Started;
  gateway: StartedGateway;
  /** Portkey's gateway with --peers, unless it could not be started (see peerStatus). */
  portkey: StartedPeer | undefined;
  readonly #portkeyInstall: PortkeyInstall | undefined;
  peerStatus: PeerStatus | undefined;
  readonly peerDeaths: GatewayDeath[] = [];
  /** False until the gateway has served requests: a fresh one need not be restarted. */
  #gatewayUsed = false;
  #portkeyUsed = false;
  /** Warnings and errors the gateways logged while serving. */
  readonly gatewayProblems: string[] = [];
  readonly gatewayDeaths: GatewayDeath[] = [];
  #stopping: Promise<void> | undefined;

  private constructor(
    settings: StackSettings,
    mock: Started,
    redis: RunningRedis | undefined,
    floor: Started,
    gateway: StartedGateway,
    peer: { install: PortkeyInstall; started?: StartedPeer; reason?: string } | undefined,
  ) {
    this.#settings = settings;
    this.#portkeyInstall = peer?.install;
    this.portkey = peer?.started;
    if (peer) {
      this.peerStatus = peer.started
        ? { name: 'portkey', started: true, version: peer.started.version }
        : { name: 'portkey', started: false, reason: peer.reason ?? 'not started' };
    }
    this.mock = mock;
    this.#redis = redis;
    // redis-server retitles itself "redis-server HOST:PORT"; its CPU is the bench's, not noise.
    this.#redisPid = redis ? findPid(`redis-server 127.0.0.1:${redis.port}`) : undefined;
    this.floor = floor;
    this.gateway = gateway;
  }

  /** Starts everything; what did start is stopped again if a later step fails. */
  static async start(settings: StackSettings): Promise<BenchStack> {
    const up: Array<{ stop(): Promise<void> }> = [];
    try {
      const redis = settings.redis ? await startRedisServer() : undefined;
      if (redis) up.push(redis);
      const mock = await startMock(settings.distBench, GOOGLE_KEY, ANSWER_BASE64_BYTES);
      up.push(mock);
      const floor = await startFloor(settings.distBench, mock.url, profileArgs(settings.profileDir, 'floor'));
      up.push(floor);
      const gateway = await BenchStack.#launchGateway(settings, mock, redis);
      up.push(gateway);
      const peer = settings.peers ? await BenchStack.#launchPeer(settings) : undefined;
      if (peer?.started) up.push(peer.started);
      const stack = new BenchStack(settings, mock, redis, floor, gateway, peer);
      if (redis) settings.progress(`private redis-server on port ${redis.port}, pid ${stack.#redisPid ?? 'not found (its CPU counts as other processes\')'}`);
      return stack;
    } catch (e) {
      for (const p of up.reverse()) await p.stop();
      throw e;
    }
  }

  /** Portkey, or why not: a missing or failing peer is told in one line and the run goes on without it. */
  static async #launchPeer(settings: StackSettings): Promise<{ install: PortkeyInstall; started?: StartedPeer; reason?: string }> {
    const install = findPortkey(settings.root);
    if (!install.ok) {
      settings.progress(`--peers: Portkey's gateway is left out of this run: ${install.reason}`);
      return { install, reason: install.reason };
    }
    try {
      const started = await startPortkey(install, settings.crashLogDir, profileArgs(settings.profileDir, 'portkey'));
      settings.progress(`--peers: Portkey's gateway ${install.version} (pid ${started.pid}) relays to the mock`);
      return { install, started };
    } catch (e) {
      const reason = `it did not start: ${(e as Error).message.split('\n')[0]}`;
      settings.progress(`--peers: Portkey's gateway ${install.version} is left out of this run: ${(e as Error).message}`);
      return { install, reason };
    }
  }

  /** A fresh Portkey; if it will not start again, the rest of the run goes on without it. */
  async #restartPortkey(): Promise<void> {
    if (!this.portkey || !this.#portkeyUsed || !this.#portkeyInstall?.ok) return;
    this.#portkeyUsed = false;
    await this.portkey.stop();
    try {
      this.portkey = await startPortkey(this.#portkeyInstall, this.#settings.crashLogDir, profileArgs(this.#settings.profileDir, 'portkey'));
    } catch (e) {
      this.portkey = undefined;
      const reason = `it did not start again: ${(e as Error).message.split('\n')[0]}`;
      this.peerStatus = { name: 'portkey', started: true, version: this.#portkeyInstall.version, lost: reason };
      this.#settings.progress(`  Portkey's gateway ${reason}; the rest of the run goes on without it`);
    }
  }

  static #launchGateway(settings: StackSettings, mock: Started, redis: RunningRedis | undefined): Promise<StartedGateway> {
    const start = startCommand(settings.root);
    return startGateway({
      mainJs: join(settings.root, 'dist/main.js'),
      upstreamUrl: mock.url,
      googleKey: GOOGLE_KEY,
      tenantKey: TENANT_KEY,
      models: loadModelTable().models.map((m) => m.id),
      ...(redis ? { redisUrl: redis.url } : {}),
      // As `npm start` runs it: its node flags and environment, then the bench's own flags.
      nodeArgs: [...start.nodeArgs, ...profileArgs(settings.profileDir, 'gateway')],
      env: start.env,
      crashLogDir: settings.crashLogDir,
    });
  }

  /** Every process whose CPU is the bench's own: the load generator (this one) included. */
  pids(): number[] {
    return [
      process.pid,
      this.mock.pid,
      this.floor.pid,
      this.gateway.pid,
      ...(this.portkey ? [this.portkey.pid] : []),
      ...(this.#redisPid !== undefined ? [this.#redisPid] : []),
    ];
  }

  async #restartGateway(): Promise<void> {
    if (this.#gatewayUsed) await this.#replaceGateway();
  }

  async #replaceGateway(): Promise<void> {
    this.#gatewayUsed = false;
    this.gatewayProblems.push(...this.gateway.problems());
    await this.gateway.stop();
    this.gateway = await BenchStack.#launchGateway(this.#settings, this.mock, this.#redis);
  }

  async #replaceFloor(): Promise<void> {
    await this.floor.stop();
    this.floor = await startFloor(this.#settings.distBench, this.mock.url, profileArgs(this.#settings.profileDir, 'floor'));
  }

  /**
   * Idle RSS: new floor and gateway processes that serve nothing for `settleMs` (long enough for
   * V8 to shrink the heap its start grew), then their VmRSS. They have served nothing, so the
   * next freshProxies keeps the gateway (and replaces the floor, as always).
   */
  async idleRss(settleMs: number): Promise<{ floorMb: number; gatewayMb: number }> {
    await this.#replaceFloor();
    await this.#replaceGateway();
    await delay(settleMs);
    return { floorMb: rssBytes(this.floor.pid) / 2 ** 20, gatewayMb: rssBytes(this.gateway.pid) / 2 ** 20 };
  }

  /**
   * New floor and gateway processes, warmed on tiny requests of every face: memory a previous
   * body left behind must not count as this one's peak, and the first face measured on a new
   * process must not pay for the JIT.
   */
  async freshProxies(book: RequestBook): Promise<void> {
    await this.#replaceFloor();
    await this.#restartGateway();
    await this.#restartPortkey();
    const warm = async (origin: string, request: RequestSpec) => {
      const pool = loadPool(origin, 8);
      try {
        await runLoad({ pool, request, concurrency: 8, durationMs: this.#settings.warmMs, minResponseBytes: minAnswerBytes('tiny') });
      } finally {
        await pool.close();
      }
    };
    await warm(this.floor.url, book.request('generateContent', 'tiny', 'floor'));
    for (const face of this.#settings.faces) await warm(this.gateway.url, book.request(face, 'tiny', 'gateway'));
    this.#gatewayUsed = true;
    if (this.portkey) {
      // Its one route for Gemini: warming the routes it fails on would only fill its log.
      await warm(this.portkey.url, book.request('chat', 'tiny', 'portkey', this.mock.url));
      this.#portkeyUsed = true;
    }
  }

  /**
   * After a segment: the mock and floor must be alive; a dead gateway or peer is noted and
   * replaced. Returns which died, and how.
   */
  async checkAfterSegment(run: number, during: string): Promise<Deaths> {
    for (const p of [this.mock, this.floor]) {
      const how = p.died();
      if (how !== undefined) throw new Error(`the ${p.name} process died (${how}) during ${during}: the run cannot go on`);
    }
    const deaths: Deaths = {};
    const peerExit = this.portkey?.died();
    if (this.portkey && peerExit !== undefined) {
      const logTail = this.portkey.logTail(5);
      this.peerDeaths.push({ run, during, how: peerExit, pid: this.portkey.pid, logTail });
      this.#settings.progress(`  Portkey's gateway (pid ${this.portkey.pid}) died during ${during}: ${peerExit}; its log is kept in ${this.#settings.crashLogDir}; starting another\n${logTail}`);
      deaths.portkey = peerExit;
      this.#portkeyUsed = true;
      await this.#restartPortkey();
    }
    const exit = this.gateway.died();
    if (exit === undefined) return deaths;
    const logTail = this.gateway.logTail(5);
    // A clean exit after a signal the bench did not send: something else on the machine stopped it.
    const signal = /"signal":"(SIG[A-Z]+)"[^\n]*shutting down/.exec(this.gateway.logTail(100_000))?.[1];
    const how = signal ? `${exit} after a ${signal} the bench did not send` : exit;
    this.gatewayDeaths.push({ run, during, how, pid: this.gateway.pid, logTail });
    this.#settings.progress(`  the gateway (pid ${this.gateway.pid}) died during ${during}: ${how}; its log is kept in ${this.#settings.crashLogDir}; starting another\n${logTail}`);
    this.#gatewayUsed = true;
    await this.#restartGateway();
    deaths.gateway = how;
    return deaths;
  }

  /** Stops every process (once, however often it is called). */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.gatewayProblems.push(...this.gateway.problems());
      await this.gateway.stop();
      await this.portkey?.stop();
      await this.floor.stop();
      await this.mock.stop();
      await this.#redis?.stop();
    })();
    return this.#stopping;
  }
}
