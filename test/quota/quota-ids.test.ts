import { describe, expect, it } from 'vitest';
import { quotaIdFor, quotaMetricFor } from '../../src/quota/quota-ids.js';

const G = 'generativelanguage.googleapis.com/';

describe("quota ids and metrics, as Google names them (reference/limits.md §5)", () => {
  it.each([
    ['project', 'rpm', 'free', 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier', `${G}generate_content_free_tier_requests`],
    ['project', 'rpm', 'tier1', 'GenerateRequestsPerMinutePerProjectPerModel-PaidTier', `${G}generate_content_paid_tier_requests`],
    ['project', 'rpm', 'tier2', 'GenerateRequestsPerMinutePerProjectPerModel-PaidTier2', `${G}generate_content_paid_tier_2_requests`],
    ['project', 'rpm', 'tier3', 'GenerateRequestsPerMinutePerProjectPerModel-PaidTier3', `${G}generate_content_paid_tier_3_requests`],
    ['project', 'rpd', 'free', 'GenerateRequestsPerDayPerProjectPerModel-FreeTier', `${G}generate_content_free_tier_requests`],
    ['project', 'rpd', 'tier1', 'GenerateRequestsPerDayPerProjectPerModel-PaidTier', `${G}generate_content_paid_tier_requests`],
    ['project', 'rpd', 'tier3', 'GenerateRequestsPerDayPerProjectPerModel-PaidTier3', `${G}generate_content_paid_tier_3_requests`],
    ['project', 'tpm', 'free', 'GenerateContentInputTokensPerModelPerMinute-FreeTier', `${G}generate_content_free_tier_input_token_count`],
    ['project', 'tpm', 'tier1', 'GenerateContentPaidTierInputTokensPerModelPerMinute', `${G}generate_content_paid_tier_input_token_count`],
    ['project', 'tpm', 'tier2', 'GenerateContentPaidTierInputTokensPerModelPerMinute-PaidTier2', `${G}generate_content_paid_tier_2_input_token_count`],
    ['project', 'tpm', 'tier3', 'GenerateContentPaidTierInputTokensPerModelPerMinute-PaidTier3', `${G}generate_content_paid_tier_3_input_token_count`],
    ['project', 'ipm', 'tier1', 'GenerateImagesPerMinutePerProjectPerModel-PaidTier', `${G}generate_content_paid_tier_images`],
    ['tenant', 'rpm', 'tier1', 'NanogateTenantRequestsPerMinute', 'nanogate/tenant_requests'],
    ['tenant', 'rpd', 'tier2', 'NanogateTenantRequestsPerDay', 'nanogate/tenant_requests'],
    ['tenant', 'tpm', 'tier1', 'NanogateTenantInputTokensPerMinute', 'nanogate/tenant_input_token_count'],
    ['tenant', 'ipm', 'tier1', 'NanogateTenantImagesPerMinute', 'nanogate/tenant_images'],
    ['project', 'cooldown', 'tier1', 'NanogateUpstreamCooldownPerProjectPerModel', 'nanogate/upstream_cooldown'],
  ] as const)('%s %s on %s: %s', (scope, dimension, tier, quotaId, metric) => {
    expect(quotaIdFor({ scope, dimension, tier })).toBe(quotaId);
    expect(quotaMetricFor({ scope, dimension, tier })).toBe(metric);
  });

  it('keeps the minute/day word in the id so clients can parse it by prefix', () => {
    for (const scope of ['project', 'tenant'] as const) {
      expect(quotaIdFor({ scope, dimension: 'rpd', tier: 'tier1' })).toMatch(/PerDay/);
      for (const dimension of ['rpm', 'tpm', 'ipm'] as const) expect(quotaIdFor({ scope, dimension, tier: 'tier1' })).toMatch(/PerMinute/);
    }
  });
});
