/**
 * Per-project limits: the model table's defaults by usage tier (nanogate's own conservative
 * figures: Google publishes none) and the per-model overrides from config.
 */
import { TIERS, type Limits, type ModelSpec, type Tier } from '../models/catalog.js';

export { TIERS, type Limits, type Tier };

/**
 * The limits of one project for one model: the tier's defaults from the model table, with each
 * dimension named in the override for that canonical id replacing the default (the others keep
 * the default).
 */
export function projectLimitsFor(tier: Tier, overrides: Readonly<Record<string, Limits>> | undefined, model: ModelSpec): Limits {
  const out: Limits = { ...model.limits[tier] };
  const override = overrides?.[model.id];
  if (override) {
    for (const dim of ['rpm', 'tpm', 'rpd', 'ipm'] as const) {
      const v = override[dim];
      if (v !== undefined) out[dim] = v;
    }
  }
  return out;
}
