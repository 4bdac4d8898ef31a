import { describe, expect, it } from 'vitest';
import { MODELS } from '../../src/models/catalog.js';
import { BUILTIN_TIER_LIMITS, projectLimitsFor } from '../../src/quota/limits.js';

const byId = (id: string) => MODELS.find((m) => m.id === id)!;

describe('built-in tier limits (reference/limits.md §4)', () => {
  it.each([
    ['free', 'gemini-3-pro-image-preview', { rpm: 0, tpm: 0, rpd: 0, ipm: 0 }],
    ['tier1', 'gemini-3-pro-image-preview', { rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 }],
    ['tier2', 'gemini-3-pro-image-preview', { rpm: 100, tpm: 1_000_000, rpd: 2_000, ipm: 100 }],
    ['tier3', 'gemini-3-pro-image-preview', { rpm: 500, tpm: 4_000_000, rpd: 20_000, ipm: 500 }],
    ['tier1', 'gemini-3.1-flash-image-preview', { rpm: 100, tpm: 1_000_000, rpd: 1_000, ipm: 100 }],
    ['tier2', 'gemini-3.1-flash-image-preview', { rpm: 500, tpm: 4_000_000, rpd: 10_000, ipm: 500 }],
    ['tier3', 'gemini-3.1-flash-image-preview', { rpm: 1_000, tpm: 4_000_000, rpd: 50_000, ipm: 1_000 }],
    ['free', 'gemini-2.5-flash-image', { rpm: 0, tpm: 0, rpd: 0, ipm: 0 }],
    ['tier1', 'gemini-2.5-flash-image', { rpm: 500, tpm: 500_000, rpd: 2_000, ipm: 500 }],
    ['tier2', 'gemini-2.5-flash-image', { rpm: 2_000, tpm: 1_500_000, rpd: 50_000, ipm: 2_000 }],
    ['tier3', 'gemini-2.5-flash-image', { rpm: 5_000, tpm: 5_000_000, rpd: 100_000, ipm: 5_000 }],
    // GA ids are buckets of their own with their family's defaults.
    ['tier1', 'gemini-3-pro-image', { rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 }],
    ['tier3', 'gemini-3.1-flash-image', { rpm: 1_000, tpm: 4_000_000, rpd: 50_000, ipm: 1_000 }],
  ] as const)('%s %s', (tier, id, limits) => {
    expect(BUILTIN_TIER_LIMITS[tier][id]).toEqual(limits);
    expect(projectLimitsFor(tier, undefined, byId(id))).toEqual(limits);
  });

  it('has a row for every model in the catalog, in every tier', () => {
    for (const tier of ['free', 'tier1', 'tier2', 'tier3'] as const) {
      expect(Object.keys(BUILTIN_TIER_LIMITS[tier]).sort()).toEqual(MODELS.map((m) => m.id).sort());
    }
  });
});

describe('projectLimitsFor', () => {
  it.each([
    ['replaces only the dimensions an override names', { 'gemini-3-pro-image-preview': { rpm: 7 } }, 'gemini-3-pro-image-preview', { rpm: 7, tpm: 100_000, rpd: 250, ipm: 20 }],
    ['replaces every dimension named', { 'gemini-3-pro-image-preview': { rpm: 1, tpm: 2, rpd: 3, ipm: 4 } }, 'gemini-3-pro-image-preview', { rpm: 1, tpm: 2, rpd: 3, ipm: 4 }],
    ['keys overrides by canonical id: the GA id keeps its defaults', { 'gemini-3-pro-image-preview': { rpm: 7 } }, 'gemini-3-pro-image', { rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 }],
    ['ignores overrides for other models', { 'gemini-2.5-flash-image': { rpd: 9 } }, 'gemini-3-pro-image-preview', { rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 }],
  ] as const)('%s', (_what, overrides, id, expected) => {
    expect(projectLimitsFor('tier1', overrides, byId(id))).toEqual(expected);
  });

  it('does not let an override leak into the built-in table', () => {
    projectLimitsFor('tier1', { 'gemini-3-pro-image-preview': { rpm: 1 } }, byId('gemini-3-pro-image-preview'));
    expect(BUILTIN_TIER_LIMITS.tier1['gemini-3-pro-image-preview']?.rpm).toBe(20);
  });
});
