/**
 * Google's Batch API limit the gateway mirrors (#16): enqueued tokens, the input tokens of a
 * project's batches for one model that Google has not finished. Batches do not draw on
 * rpm/tpm/rpd/ipm (docs/google-batch-api.md §5). The limit is the model table's `batchTokens`
 * for the project's tier, or the project's own `limits.<model>.batchTokens` from the config.
 */
import { GatewayError, type QuotaRefusal } from '../errors/gateway-error.js';
import type { ModelSpec } from '../models/catalog.js';
import type { ProjectRuntime } from '../relay/gemini-relay.js';

/** undefined: no limit. */
export function batchTokenLimit(project: ProjectRuntime, model: ModelSpec): number | undefined {
  return project.limits?.[model.id]?.batchTokens ?? model.batchTokens[project.tier];
}

/** The 429 of a batch that does not fit, in Google's shape on the native face (QuotaFailure, RetryInfo). */
export function batchTokensRefusal(r: { project: ProjectRuntime; model: ModelSpec; tenantId: string; limit: number; used: number; requested: number }): GatewayError {
  const quota: QuotaRefusal = {
    scope: 'project',
    dimension: 'batchTokens',
    limit: r.limit,
    used: r.used,
    // Capacity frees when a batch ends, which nothing here can predict: a minute, as after Google's own 429.
    retryAfterMs: 60_000,
    model: r.model.id,
    projectId: r.project.id,
    tenantId: r.tenantId,
    tier: r.project.tier,
  };
  const message =
    r.limit === 0
      ? `Batches of ${r.model.id} are not available to project ${r.project.id} (its batchTokens limit is 0).`
      : `You exceeded your current quota of enqueued batch tokens for ${r.model.id}: limit ${r.limit}, enqueued ${r.used}, this batch needs about ${r.requested}. Wait for running batches to finish, or split the batch.`;
  return new GatewayError('QUOTA_EXHAUSTED', message, { quota });
}
