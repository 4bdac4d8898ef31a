import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApps } from './app.js';
import type { GatewayConfig } from './config/schema.js';
import { openDatabase, type Database } from './db/database.js';
import { GatewayMetrics } from './ops/metrics.js';
import { QuotaService } from './quota/quota-service.js';
import { createQuotaStore, describeRedisUrl, type QuotaStore } from './quota/store.js';
import { projectLimitsFor } from './quota/limits.js';
import { describeDatabase, type StartSummary } from './ops/start-line.js';
import { DEV_KEY_HASH } from './tenants/keys.js';
import { TenantRegistry } from './tenants/registry.js';
import { systemClock, type Clock } from './time/clock.js';
import { UpstreamClient } from './upstream/client.js';
import { BudgetService } from './usage/budget.js';
import { UsageLedger } from './usage/ledger.js';
import { seedTextAllowance, TextAllowance } from './usage/text-allowance.js';
import { modelTableFor } from './config/load.js';
import { ModelResolver } from './models/resolver.js';
import { LiveModelCheck, type IntervalTimers } from './models/live-check.js';
import type { BatchRuntime } from './batch/runtime.js';
import { HostedImages } from './images/hosted-images.js';
import { DirectoryImageStore } from './images/directory-store.js';
import { checkVertexCredentials } from './vertex/vertex-projects.js';

export interface GatewayOptions {
  config: Readonly<GatewayConfig>;
  logger: Logger;
  redisUrl?: string;
  databaseUrl?: string;
  adminToken?: string;
  clock?: Clock;
  /** Tests shorten the admin-tenant refresh; production keeps the default. */
  tenantRefreshMs?: number;
  /**
   * The check of the model table against Google's list (#11): on by default, at start and every
   * `models.liveCheckHours`. Tests that count what reaches Google turn it off, or drive its
   * interval with their own timers.
   */
  modelLiveCheck?: false | { timers?: IntervalTimers };
  ledgerFlushIntervalMs?: number;
  /** The wait between retries of Google (tests pass one that does not wait; production backs off for real). */
  upstreamSleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The follower of Google batches (#16): on by default; tests that tick it themselves turn it off. */
  batchFollower?: false;
}

/** A start that cannot go on, naming the part that failed: "database: connect ECONNREFUSED 127.0.0.1:5999 (DATABASE_URL)". */
export class StartupError extends Error {
  readonly part: 'database' | 'redis';

  constructor(part: StartupError['part'], detail: string) {
    super(`${part}: ${detail}`);
    this.name = 'StartupError';
    this.part = part;
  }
}

/** An error's own words; Node's AggregateError (one per address tried) has none of its own. */
function errorText(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return [...new Set(e.errors.map(errorText))].join('; ');
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

export interface Gateway {
  app: FastifyInstance;
  /** The ops server (health, metrics, admin) when `server.opsPort` is set; listen on it too. */
  ops: FastifyInstance | undefined;
  /** What this gateway is made of, for the start line. */
  summary: StartSummary;
  db: Database;
  ledger: UsageLedger;
  tenants: TenantRegistry;
  /** The model table's check against Google's list (idle() settles once a check in flight ends). */
  liveCheck: LiveModelCheck;
  /** Google batches and files (#16), with the follower that meters them. */
  batches: BatchRuntime;
  /** Images of `response_format: "url"` answers (#14.4); sweep() deletes the expired ones now. */
  hostedImages: HostedImages;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (default
   * `server.shutdownGraceMs`), then cuts the connections still open, which aborts their calls;
   * meters every call, flushes the ledger, closes connections to Redis, the database and Google.
   */
  close(graceMs?: number): Promise<void>;
}

/** Wires real dependencies from config: the one place that opens connections. */
export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config, logger } = opts;
  const clock = opts.clock ?? systemClock;
  // Vertex AI key files (#17.3): a wrong path stops the start here, before anything is opened.
  checkVertexCredentials(config);
  const models = new ModelResolver({ table: modelTableFor(config), aliases: config.aliases, retired: config.models.retired, clock });
  const dbSource = opts.databaseUrl ? 'DATABASE_URL' : `database.path ${config.database.path}`;
  let db: Database;
  try {
    db = await openDatabase({ ...(opts.databaseUrl ? { url: opts.databaseUrl } : {}), sqlitePath: config.database.path, logger });
  } catch (e) {
    throw new StartupError('database', `${errorText(e)} (${dbSource})`);
  }
  try {
    const applied = await db.migrate();
    const version = await db.schemaVersion();
    if (applied.length > 0) {
      logger.info({ applied: applied.map((m) => `${m.version} ${m.name}`), version }, `database: applied ${applied.length} migration(s), schema now at version ${version}`);
    } else logger.info({ version }, `database: schema up to date at version ${version}`);
  } catch (e) {
    await db.close().catch(() => {});
    throw new StartupError('database', `${errorText(e)} (${dbSource})`);
  }
  const ledger = new UsageLedger({ db, logger, ...(opts.ledgerFlushIntervalMs ? { flushIntervalMs: opts.ledgerFlushIntervalMs } : {}) });
  let store: QuotaStore;
  try {
    store = await createQuotaStore({ ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}), onFailure: config.store.onFailure, logger });
    // Redis that does not answer at start is never silent (#12): fatal under deny, an error line under local.
    if (opts.redisUrl) await checkRedisAtStart(store, opts.redisUrl, config.store.onFailure, logger);
  } catch (e) {
    await ledger.close().catch(() => {});
    await db.close().catch(() => {});
    throw e instanceof StartupError ? e : new StartupError('redis', errorText(e));
  }
  const quota = new QuotaService({ store, logger });
  const budgets = new BudgetService({
    store,
    logger,
    loadSpendNanoUsd: async (tenantId, fromMs, toMs, keyId) =>
      (await db.spendNanoUsd(tenantId, fromMs, toMs, keyId)) + ledger.pendingCostNanoUsd(tenantId, fromMs, toMs, keyId),
  });
  const tenants = new TenantRegistry({
    tenants: config.tenants,
    pools: config.pools,
    db,
    logger,
    clock,
    maxStaleMs: config.database.maxStaleKeysMs,
    ...(opts.tenantRefreshMs !== undefined ? { refreshIntervalMs: opts.tenantRefreshMs } : {}),
  });
  await tenants.start();
  // Budget holds learn each model's text and thinking from its calls (#13.1); the ledger's newest
  // calls seed that in the background, never holding up the start.
  const textAllowance = new TextAllowance();
  if (config.budget.holds === 'sized') void seedTextAllowance(textAllowance, { db, models: models.canonicalModels(clock.nowMs()), logger });
  for (const p of config.projects) {
    if (p.kind === 'gemini' && !p.apiKey) logger.warn({ project: p.id }, 'project has no Google API key (set GEMINI_API_KEY): its calls are refused until it is set');
  }
  for (const t of config.tenants) {
    if (t.keys.includes(DEV_KEY_HASH)) logger.warn({ tenant: t.id }, 'tenant uses the well-known development key "nanogate-dev-key": replace it before production');
  }
  const upstream = new UpstreamClient({
    baseUrl: config.upstream.baseUrl,
    timeoutMs: config.upstream.timeoutMs,
    retries: config.upstream.retries,
    ...(opts.upstreamSleep ? { sleep: opts.upstreamSleep } : {}),
  });
  const metrics = new GatewayMetrics();
  // response_format "url" (#14.4): PostgreSQL when instances share a database (each serves the
  // others' URLs), else a directory.
  const hosted = config.openai.hostedImages;
  if (hosted.store === 'postgres' && !opts.databaseUrl) {
    throw new StartupError('database', 'openai.hostedImages.store is postgres, which needs DATABASE_URL');
  }
  // pg is loaded only when PostgreSQL is used (#15: idle RSS).
  const imageStore =
    hosted.store === 'postgres' || (hosted.store === 'auto' && opts.databaseUrl)
      ? new (await import('./images/postgres-store.js')).PostgresImageStore(opts.databaseUrl!)
      : new DirectoryImageStore(hosted.directory);
  const hostedImages = new HostedImages({
    store: imageStore,
    clock,
    ttlMs: hosted.ttlMinutes * 60_000,
    ...(hosted.signingKey ? { signingKey: Buffer.from(hosted.signingKey) } : {}),
    ...(hosted.baseUrl ? { baseUrl: hosted.baseUrl } : {}),
    logger,
  });
  hostedImages.start();
  const { app, ops, modelFindings, batches } = await buildApps({
    config,
    clock,
    logger,
    upstream,
    db,
    store,
    quota,
    budgets,
    ledger,
    models,
    tenants,
    metrics,
    textAllowance,
    hostedImages,
    ...(opts.adminToken ? { adminToken: opts.adminToken } : {}),
  });

  const liveCheck = new LiveModelCheck({
    upstream,
    projects: config.projects,
    models,
    findings: modelFindings,
    logger,
    clock,
    intervalHours: config.models.liveCheckHours,
    ...(opts.modelLiveCheck && opts.modelLiveCheck.timers ? { timers: opts.modelLiveCheck.timers } : {}),
  });
  // Not awaited: Google unreachable (or slow) never holds up or fails the start.
  if (opts.modelLiveCheck !== false) liveCheck.start();
  if (opts.batchFollower !== false) batches.follower.start();

  let closing: Promise<void> | undefined;
  const close = (graceMs = config.server.shutdownGraceMs) =>
    (closing ??= (async () => {
      await liveCheck.stop();
      // A settlement cut short is repeated by whichever instance follows next: it records nothing twice.
      await batches.follower.stop();
      const cut = setTimeout(() => app.server.closeAllConnections(), graceMs);
      cut.unref();
      await app.close();
      clearTimeout(cut);
      await hostedImages.stop().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'hosted images: closing the store failed'));
      // Last: probes and scrapers see the drain through to its end.
      await ops?.close();
      tenants.stop();
      await ledger.close();
      await Promise.allSettled([upstream.close(), store.close(), db.close()]);
    })());
  const nowMs = clock.nowMs();
  const summary: StartSummary = {
    store: opts.redisUrl ? safeRedisDescription(opts.redisUrl) : 'memory (this instance only)',
    database: describeDatabase(opts.databaseUrl, config.database.path),
    admin: opts.adminToken !== undefined,
    ...tenants.loaded(),
    // A model with any limit at 0 for the project's tier (image models have no free tier) cannot be called.
    projects: config.projects.map((p) => ({
      id: p.id,
      ...(p.vertex ? { vertex: `${p.vertex.project}/${p.vertex.location}` } : {}),
      tier: p.tier,
      models: models.canonicalModels(nowMs).filter((m) => Object.values(projectLimitsFor(p.tier, p.limits, m)).every((v) => v !== 0)).length,
    })),
    ...(config.pools.length > 0 ? { pools: config.pools } : {}),
  };
  return { app, ops, summary, db, ledger, tenants, liveCheck, hostedImages, batches, close };
}

function safeRedisDescription(redisUrl: string): string {
  try {
    return describeRedisUrl(redisUrl);
  } catch (e) {
    return `unusable REDIS_URL (${errorText(e)}): this instance's memory`;
  }
}

const REDIS_START_CHECK_MS = 10_000;

async function checkRedisAtStart(store: QuotaStore, redisUrl: string, onFailure: 'local' | 'deny', logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      store.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_START_CHECK_MS} ms`)), REDIS_START_CHECK_MS);
      }),
    ]);
  } catch (e) {
    let detail: string;
    let usable = true;
    try {
      const where = describeRedisUrl(redisUrl);
      // A lone host:port is a Cluster of one: say so, it is the likeliest mistake.
      const hint = where.startsWith('Redis Cluster') && !redisUrl.includes(',') ? '; a single Redis is written redis://host:port' : '';
      detail = `${errorText(e)} (REDIS_URL: ${where}${hint})`;
    } catch {
      // The URL itself is the problem: the error says what is wrong with it.
      detail = errorText(e);
      usable = false;
    }
    if (onFailure === 'deny') {
      await store.close().catch(() => {});
      throw new StartupError('redis', `${detail}; store.onFailure is deny, so the gateway does not start without it`);
    }
    const meanwhile = usable ? 'until it answers' : 'for as long as this process runs';
    logger.error({ onFailure }, `redis: ${detail}; counting in this instance's memory ${meanwhile} (store.onFailure: local)`);
  } finally {
    clearTimeout(timer);
  }
}
