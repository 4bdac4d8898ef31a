import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import type { GatewayConfig } from './config/schema.js';
import { openDatabase, type Database } from './db/database.js';
import { GatewayMetrics } from './ops/metrics.js';
import { QuotaService } from './quota/quota-service.js';
import { createQuotaStore } from './quota/store.js';
import { DEV_KEY_HASH } from './tenants/keys.js';
import { TenantRegistry } from './tenants/registry.js';
import { systemClock, type Clock } from './time/clock.js';
import { UpstreamClient } from './upstream/client.js';
import { BudgetService } from './usage/budget.js';
import { UsageLedger } from './usage/ledger.js';
import { buildPriceTable } from './usage/pricing.js';

export interface GatewayOptions {
  config: Readonly<GatewayConfig>;
  logger: Logger;
  redisUrl?: string;
  databaseUrl?: string;
  adminToken?: string;
  clock?: Clock;
  /** Tests shorten the admin-tenant refresh; production keeps the default. */
  tenantRefreshMs?: number;
  ledgerFlushIntervalMs?: number;
}

export interface Gateway {
  app: FastifyInstance;
  db: Database;
  ledger: UsageLedger;
  tenants: TenantRegistry;
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
  const prices = buildPriceTable(config.pricing);
  const db = await openDatabase({ ...(opts.databaseUrl ? { url: opts.databaseUrl } : {}), sqlitePath: config.database.path, logger });
  await db.migrate();
  const ledger = new UsageLedger({ db, logger, ...(opts.ledgerFlushIntervalMs ? { flushIntervalMs: opts.ledgerFlushIntervalMs } : {}) });
  const store = createQuotaStore({ ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}), onFailure: config.store.onFailure, logger });
  const quota = new QuotaService({ store, logger });
  const budgets = new BudgetService({
    store,
    logger,
    loadSpendNanoUsd: async (tenantId, fromMs, toMs) => (await db.spendNanoUsd(tenantId, fromMs, toMs)) + ledger.pendingCostNanoUsd(tenantId, fromMs, toMs),
  });
  const tenants = new TenantRegistry({
    tenants: config.tenants,
    db,
    logger,
    clock,
    maxStaleMs: config.database.maxStaleKeysMs,
    ...(opts.tenantRefreshMs !== undefined ? { refreshIntervalMs: opts.tenantRefreshMs } : {}),
  });
  await tenants.start();
  for (const p of config.projects) {
    if (!p.apiKey) logger.warn({ project: p.id }, 'project has no Google API key (set GEMINI_API_KEY): its calls are refused until it is set');
  }
  for (const t of config.tenants) {
    if (t.keys.includes(DEV_KEY_HASH)) logger.warn({ tenant: t.id }, 'tenant uses the well-known development key "nanogate-dev-key": replace it before production');
  }
  const upstream = new UpstreamClient({ baseUrl: config.upstream.baseUrl, timeoutMs: config.upstream.timeoutMs, retries: config.upstream.retries });
  const metrics = new GatewayMetrics();
  const app = await buildApp({
    config,
    clock,
    logger,
    upstream,
    db,
    store,
    quota,
    budgets,
    ledger,
    prices,
    tenants,
    metrics,
    ...(opts.adminToken ? { adminToken: opts.adminToken } : {}),
  });

  let closing: Promise<void> | undefined;
  const close = (graceMs = config.server.shutdownGraceMs) =>
    (closing ??= (async () => {
      const cut = setTimeout(() => app.server.closeAllConnections(), graceMs);
      cut.unref();
      await app.close();
      clearTimeout(cut);
      tenants.stop();
      await ledger.close();
      await Promise.allSettled([upstream.close(), store.close(), db.close()]);
    })());
  return { app, db, ledger, tenants, close };
}
