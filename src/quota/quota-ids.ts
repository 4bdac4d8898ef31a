/**
 * The quotaId and quotaMetric a refusal carries in `google.rpc.QuotaFailure`, so clients parse
 * nanogate's 429 exactly like Google's (reference/limits.md §5): the prefix says minute or day,
 * the suffix says the tier. Pure: the face renderers call these.
 */
import type { QuotaRefusal } from '../errors/gateway-error.js';

const METRIC_PREFIX = 'generativelanguage.googleapis.com/';

type RefusalKey = Pick<QuotaRefusal, 'scope' | 'dimension' | 'tier'>;

/** Google's `-FreeTier` / `-PaidTier` / `-PaidTier2` / `-PaidTier3` suffix on request quotas. */
function tierSuffix(tier: string): string {
  switch (tier) {
    case 'free':
      return '-FreeTier';
    case 'tier2':
      return '-PaidTier2';
    case 'tier3':
      return '-PaidTier3';
    default:
      return '-PaidTier';
  }
}

/** The tier part of Google's metric names: generate_content_<this>_requests. */
function tierMetric(tier: string): string {
  switch (tier) {
    case 'free':
      return 'free_tier';
    case 'tier2':
      return 'paid_tier_2';
    case 'tier3':
      return 'paid_tier_3';
    default:
      return 'paid_tier';
  }
}

export function quotaIdFor(refusal: RefusalKey): string {
  if (refusal.dimension === 'cooldown') return 'NanogateUpstreamCooldownPerProjectPerModel';
  // Google's quotaId for enqueued batch tokens was never captured (docs/google-batch-api.md §5): the request quotas' naming.
  if (refusal.dimension === 'batchTokens') return `BatchEnqueuedTokensPerProjectPerModel${tierSuffix(refusal.tier)}`;
  if (refusal.scope === 'key') {
    switch (refusal.dimension) {
      case 'rpm':
        return 'NanogateKeyRequestsPerMinute';
      case 'rpd':
        return 'NanogateKeyRequestsPerDay';
      case 'tpm':
        return 'NanogateKeyInputTokensPerMinute';
      case 'ipm':
        return 'NanogateKeyImagesPerMinute';
    }
  }
  if (refusal.scope === 'tenant') {
    switch (refusal.dimension) {
      case 'rpm':
        return 'NanogateTenantRequestsPerMinute';
      case 'rpd':
        return 'NanogateTenantRequestsPerDay';
      case 'tpm':
        return 'NanogateTenantInputTokensPerMinute';
      case 'ipm':
        return 'NanogateTenantImagesPerMinute';
    }
  }
  switch (refusal.dimension) {
    case 'rpm':
      return `GenerateRequestsPerMinutePerProjectPerModel${tierSuffix(refusal.tier)}`;
    case 'rpd':
      return `GenerateRequestsPerDayPerProjectPerModel${tierSuffix(refusal.tier)}`;
    case 'tpm':
      // Seen: ...-FreeTier for free; Tier 1 without a suffix; ...-PaidTier2 for Tier 2 (§5).
      if (refusal.tier === 'free') return 'GenerateContentInputTokensPerModelPerMinute-FreeTier';
      if (refusal.tier === 'tier2' || refusal.tier === 'tier3') {
        return `GenerateContentPaidTierInputTokensPerModelPerMinute${tierSuffix(refusal.tier)}`;
      }
      return 'GenerateContentPaidTierInputTokensPerModelPerMinute';
    case 'ipm':
      // Google's IPM quotaId was never captured (§5, unverified): same naming pattern as RPM.
      return `GenerateImagesPerMinutePerProjectPerModel${tierSuffix(refusal.tier)}`;
  }
}

export function quotaMetricFor(refusal: RefusalKey): string {
  if (refusal.dimension === 'cooldown') return 'nanogate/upstream_cooldown';
  if (refusal.dimension === 'batchTokens') return `${METRIC_PREFIX}batch_enqueued_${tierMetric(refusal.tier)}_tokens`;
  if (refusal.scope === 'key') {
    switch (refusal.dimension) {
      case 'rpm':
      case 'rpd':
        return 'nanogate/key_requests';
      case 'tpm':
        return 'nanogate/key_input_token_count';
      case 'ipm':
        return 'nanogate/key_images';
    }
  }
  if (refusal.scope === 'tenant') {
    switch (refusal.dimension) {
      case 'rpm':
      case 'rpd':
        return 'nanogate/tenant_requests';
      case 'tpm':
        return 'nanogate/tenant_input_token_count';
      case 'ipm':
        return 'nanogate/tenant_images';
    }
  }
  const tier = tierMetric(refusal.tier);
  switch (refusal.dimension) {
    case 'rpm':
    case 'rpd':
      return `${METRIC_PREFIX}generate_content_${tier}_requests`;
    case 'tpm':
      return `${METRIC_PREFIX}generate_content_${tier}_input_token_count`;
    case 'ipm':
      // Not captured from Google (§5, unverified).
      return `${METRIC_PREFIX}generate_content_${tier}_images`;
  }
}
