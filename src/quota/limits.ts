/**
 * Per-project limits: the built-in defaults by usage tier (reference/limits.md §4, nanogate's
 * own conservative table, not Google's figures) and the per-model overrides from config.
 */
import { MODELS, type ModelFamily, type ModelSpec } from '../models/catalog.js';

export type Tier = 'free' | 'tier1' | 'tier2' | 'tier3';

export const TIERS: readonly Tier[] = ['free', 'tier1', 'tier2', 'tier3'];

/** A dimension left out is unlimited at that level (contract §2). */
export interface Limits {
  rpm?: number;
  tpm?: number;
  rpd?: number;
  ipm?: number;
}

// limits.md §4. The free tier is 0 everywhere: Google reports `limit: 0` for these models on
// free projects (limits.md §3), so the gateway refuses instead of spending a doomed call.
const FAMILY_LIMITS: Record<Tier, Record<ModelFamily, Limits>> = {
  free: {
    'pro-image': { rpm: 0, tpm: 0, rpd: 0, ipm: 0 },
    'flash-3.1-image': { rpm: 0, tpm: 0, rpd: 0, ipm: 0 },
    'flash-2.5-image': { rpm: 0, tpm: 0, rpd: 0, ipm: 0 },
  },
  tier1: {
    'pro-image': { rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 },
    'flash-3.1-image': { rpm: 100, tpm: 1_000_000, rpd: 1_000, ipm: 100 },
    'flash-2.5-image': { rpm: 500, tpm: 500_000, rpd: 2_000, ipm: 500 },
  },
  tier2: {
    'pro-image': { rpm: 100, tpm: 1_000_000, rpd: 2_000, ipm: 100 },
    'flash-3.1-image': { rpm: 500, tpm: 4_000_000, rpd: 10_000, ipm: 500 },
    'flash-2.5-image': { rpm: 2_000, tpm: 1_500_000, rpd: 50_000, ipm: 2_000 },
  },
  tier3: {
    'pro-image': { rpm: 500, tpm: 4_000_000, rpd: 20_000, ipm: 500 },
    'flash-3.1-image': { rpm: 1_000, tpm: 4_000_000, rpd: 50_000, ipm: 1_000 },
    'flash-2.5-image': { rpm: 5_000, tpm: 5_000_000, rpd: 100_000, ipm: 5_000 },
  },
};

function tableFor(tier: Tier): Record<string, Limits> {
  // Keyed by canonical id, GA ids included: each id is its own bucket at Google, with the
  // same default numbers as its family.
  return Object.freeze(Object.fromEntries(MODELS.map((m) => [m.id, Object.freeze({ ...FAMILY_LIMITS[tier][m.family] })])));
}

export const BUILTIN_TIER_LIMITS: Readonly<Record<Tier, Readonly<Record<string, Limits>>>> = Object.freeze({
  free: tableFor('free'),
  tier1: tableFor('tier1'),
  tier2: tableFor('tier2'),
  tier3: tableFor('tier3'),
});

/**
 * The limits of one project for one model: the tier's defaults, with each dimension named in
 * the override for that canonical id replacing the default (the others keep the default).
 */
export function projectLimitsFor(tier: Tier, overrides: Readonly<Record<string, Limits>> | undefined, model: ModelSpec): Limits {
  const base = BUILTIN_TIER_LIMITS[tier][model.id] ?? FAMILY_LIMITS[tier][model.family];
  const override = overrides?.[model.id];
  const out: Limits = { ...base };
  if (override) {
    for (const dim of ['rpm', 'tpm', 'rpd', 'ipm'] as const) {
      const v = override[dim];
      if (v !== undefined) out[dim] = v;
    }
  }
  return out;
}
