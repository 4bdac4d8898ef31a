/**
 * Everything batches need, made once from the gateway's own parts (#16): the Google calls, the
 * files, the batch service with a budget service whose holds outlast a batch, and the follower
 * (not started: gateway.ts starts it, tests tick it).
 */
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import type { Database } from '../db/database.js';
import { FileService } from '../files/file-service.js';
import type { ModelResolver } from '../models/resolver.js';
import type { QuotaStore } from '../quota/store.js';
import type { ProjectRuntime } from '../relay/gemini-relay.js';
import type { Clock } from '../time/clock.js';
import type { UpstreamClient } from '../upstream/client.js';
import { BudgetService } from '../usage/budget.js';
import type { UsageLedger } from '../usage/ledger.js';
import { BATCH_HOLD_MS, BatchService } from './batch-service.js';
import { BatchFollower, type FollowerTimers } from './follower.js';
import { GoogleBatchClient } from './google-client.js';
import type { SettlementDeps } from './settlement.js';

export interface BatchRuntime {
  service: BatchService;
  files: FileService;
  follower: BatchFollower;
  google: GoogleBatchClient;
  /** What settlement uses (tests settle a batch directly). */
  settlement: SettlementDeps;
}

export interface BatchRuntimeDeps {
  config: Readonly<GatewayConfig>;
  clock: Clock;
  logger: Logger;
  db: Database;
  store: QuotaStore;
  upstream: UpstreamClient;
  ledger: UsageLedger;
  models: ModelResolver;
  projects: ReadonlyMap<string, ProjectRuntime>;
  onSettled?: SettlementDeps['onSettled'];
  followerTimers?: FollowerTimers;
}

export function createBatchRuntime(d: BatchRuntimeDeps): BatchRuntime {
  const logger = d.logger.child({ part: 'batches' });
  const google = new GoogleBatchClient(d.upstream);
  const files = new FileService({ db: d.db, google, clock: d.clock, logger, upstreamBaseUrl: d.config.upstream.baseUrl, projects: d.projects });
  // The same counters as every call's budget, with holds that last as long as a batch may run.
  const budgets = new BudgetService({
    store: d.store,
    logger,
    holdMs: BATCH_HOLD_MS,
    loadSpendNanoUsd: async (tenantId, fromMs, toMs, keyId) => (await d.db.spendNanoUsd(tenantId, fromMs, toMs, keyId)) + d.ledger.pendingCostNanoUsd(tenantId, fromMs, toMs, keyId),
  });
  const service = new BatchService({ db: d.db, google, files, budgets, clock: d.clock, logger, holds: d.config.budget.holds, projects: d.projects });
  const settlement: SettlementDeps = { db: d.db, google, budgets, models: d.models, projects: d.projects, clock: d.clock, logger, ...(d.onSettled ? { onSettled: d.onSettled } : {}) };
  const follower = new BatchFollower({
    db: d.db,
    service,
    settlement,
    clock: d.clock,
    logger,
    intervalMs: d.config.batches.pollIntervalMs,
    leaseMs: d.config.batches.leaseMs,
    // Past every attempt a create call may make (each up to timeoutMs), with a minute to spare.
    submitGraceMs: d.config.upstream.timeoutMs * (d.config.upstream.retries + 1) + 60_000,
    ...(d.followerTimers ? { timers: d.followerTimers } : {}),
  });
  return { service, files, follower, google, settlement };
}
