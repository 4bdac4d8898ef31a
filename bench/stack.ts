/**
 * The processes of one bench run and their lifecycle: the mock (for the whole run), the floor and
 * the gateway (restarted for each body, so a body's peak RSS is its own), and optionally a private
 * redis-server. A gateway that dies is a finding, not the end of the run: its log is kept, the
 * death noted, and another one started.
 */
import { join } from 'node:path';
import { loadModelTable } from '../src/models/model-table.js';
import { startRedisServer, type RunningRedis } from '../test/support/redis-server.js';
import { loadPool, runLoad, type RequestSpec } from './load.js';
import { startFloor, startGateway, startMock, type Started, type StartedGateway } from './processes.js';
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
  progress(text: string): void;
}

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
  /** False until the gateway has served requests: a fresh one need not be restarted. */
  #gatewayUsed = false;
  /** Warnings and errors the gateways logged while serving. */
  readonly gatewayProblems: string[] = [];
  readonly gatewayDeaths: GatewayDeath[] = [];
  #stopping: Promise<void> | undefined;

  private constructor(settings: StackSettings, mock: Started, redis: RunningRedis | undefined, floor: Started, gateway: StartedGateway) {
    this.#settings = settings;
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
      const stack = new BenchStack(settings, mock, redis, floor, gateway);
      if (redis) settings.progress(`private redis-server on port ${redis.port}, pid ${stack.#redisPid ?? 'not found (its CPU counts as other processes\')'}`);
      return stack;
    } catch (e) {
      for (const p of up.reverse()) await p.stop();
      throw e;
    }
  }

  static #launchGateway(settings: StackSettings, mock: Started, redis: RunningRedis | undefined): Promise<StartedGateway> {
    return startGateway({
      mainJs: join(settings.root, 'dist/main.js'),
      upstreamUrl: mock.url,
      googleKey: GOOGLE_KEY,
      tenantKey: TENANT_KEY,
      models: loadModelTable().models.map((m) => m.id),
      ...(redis ? { redisUrl: redis.url } : {}),
      nodeArgs: profileArgs(settings.profileDir, 'gateway'),
      crashLogDir: settings.crashLogDir,
    });
  }

  /** Every process whose CPU is the bench's own: the load generator (this one) included. */
  pids(): number[] {
    return [process.pid, this.mock.pid, this.floor.pid, this.gateway.pid, ...(this.#redisPid !== undefined ? [this.#redisPid] : [])];
  }

  async #restartGateway(): Promise<void> {
    if (!this.#gatewayUsed) return;
    this.#gatewayUsed = false;
    this.gatewayProblems.push(...this.gateway.problems());
    await this.gateway.stop();
    this.gateway = await BenchStack.#launchGateway(this.#settings, this.mock, this.#redis);
  }

  /**
   * New floor and gateway processes, warmed on tiny requests of every face: memory a previous
   * body left behind must not count as this one's peak, and the first face measured on a new
   * process must not pay for the JIT.
   */
  async freshProxies(book: RequestBook): Promise<void> {
    await this.floor.stop();
    this.floor = await startFloor(this.#settings.distBench, this.mock.url, profileArgs(this.#settings.profileDir, 'floor'));
    await this.#restartGateway();
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
  }

  /** After a segment: the mock and floor must be alive; a dead gateway is noted and replaced. Returns how it died. */
  async checkAfterSegment(run: number, during: string): Promise<string | undefined> {
    for (const p of [this.mock, this.floor]) {
      const how = p.died();
      if (how !== undefined) throw new Error(`the ${p.name} process died (${how}) during ${during}: the run cannot go on`);
    }
    const exit = this.gateway.died();
    if (exit === undefined) return undefined;
    const logTail = this.gateway.logTail(5);
    // A clean exit after a signal the bench did not send: something else on the machine stopped it.
    const signal = /"signal":"(SIG[A-Z]+)"[^\n]*shutting down/.exec(this.gateway.logTail(100_000))?.[1];
    const how = signal ? `${exit} after a ${signal} the bench did not send` : exit;
    this.gatewayDeaths.push({ run, during, how, pid: this.gateway.pid, logTail });
    this.#settings.progress(`  the gateway (pid ${this.gateway.pid}) died during ${during}: ${how}; its log is kept in ${this.#settings.crashLogDir}; starting another\n${logTail}`);
    this.#gatewayUsed = true;
    await this.#restartGateway();
    return how;
  }

  /** Stops every process (once, however often it is called). */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.gatewayProblems.push(...this.gateway.problems());
      await this.gateway.stop();
      await this.floor.stop();
      await this.mock.stop();
      await this.#redis?.stop();
    })();
    return this.#stopping;
  }
}
