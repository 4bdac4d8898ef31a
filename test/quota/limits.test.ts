import { describe, expect, it } from 'vitest';
import { TIERS } from '../../src/models/catalog.js';
import { loadModelTable } from '../../src/models/model-table.js';
import { projectLimitsFor } from '../../src/quota/limits.js';

const table = loadModelTable();
const byId = (id: string) => table.byId.get(id)!;

// The defaults are nanogate's own figures, written in config/models.yaml (`limits:` of each
// model); the literals below are copied from that file, not read from the loader.
describe('default tier limits (config/models.yaml)', () => {
  it.each([
    ['free', 'gemini-3-pro-image', { rpm: 0, tpm: 0, rpd: 0, ipm: 0 }],
    ['tier1', 'gemini-3-pro-image', { rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 }],
    ['tier2', 'gemini-3-pro-image', { rpm: 100, tpm: 1_000_000, rpd: 2_000, ipm: 100 }],
    ['tier3', 'gemini-3-pro-image', { rpm: 500, tpm: 4_000_000, rpd: 20_000, ipm: 500 }],
    ['tier1', 'gemini-nano-banana-2.1', { rpm: 100, tpm: 1_000_000, rpd: 1_000, ipm: 100 }],
    ['tier2', 'gemini-nano-banana-2.1', { rpm: 500, tpm: 4_000_000, rpd: 10_000, ipm: 500 }],
    ['tier3', 'gemini-nano-banana-2.1', { rpm: 1_000, tpm: 4_000_000, rpd: 50_000, ipm: 1_000 }],
    ['free', 'gemini-3.1-flash-lite-image', { rpm: 0, tpm: 0, rpd: 0, ipm: 0 }],
    ['tier1', 'gemini-3.1-flash-lite-image', { rpm: 100, tpm: 1_000_000, rpd: 1_000, ipm: 100 }],
    ['tier3', 'gemini-3.1-flash-lite-image', { rpm: 1_000, tpm: 4_000_000, rpd: 50_000, ipm: 1_000 }],
    ['tier3', 'gemini-3.1-flash-image', { rpm: 1_000, tpm: 4_000_000, rpd: 50_000, ipm: 1_000 }],
    ['free', 'gemini-2.5-flash-image', { rpm: 0, tpm: 0, rpd: 0, ipm: 0 }],
    ['tier1', 'gemini-2.5-flash-image', { rpm: 500, tpm: 500_000, rpd: 2_000, ipm: 500 }],
    ['tier2', 'gemini-2.5-flash-image', { rpm: 2_000, tpm: 1_500_000, rpd: 50_000, ipm: 2_000 }],
    ['tier3', 'gemini-2.5-flash-image', { rpm: 5_000, tpm: 5_000_000, rpd: 100_000, ipm: 5_000 }],
    // A retired preview id keeps its own bucket, with the defaults of the model it is `like`.
    ['tier1', 'gemini-3-pro-image-preview', { rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 }],
    ['tier3', 'gemini-3.1-flash-image-preview', { rpm: 1_000, tpm: 4_000_000, rpd: 50_000, ipm: 1_000 }],
  ] as const)('%s %s', (tier, id, limits) => {
    expect(byId(id).limits[tier]).toEqual(limits);
    expect(projectLimitsFor(tier, undefined, byId(id))).toEqual(limits);
  });

  it('has a row for every model in the table, in every tier', () => {
    for (const m of table.models) {
      for (const tier of TIERS) {
        expect(Object.keys(m.limits[tier]).sort(), `${m.id} ${tier}`).toEqual(['ipm', 'rpd', 'rpm', 'tpm']);
      }
    }
  });
});

describe('projectLimitsFor', () => {
  it.each([
    ['replaces only the dimensions an override names', { 'gemini-3-pro-image': { rpm: 7 } }, 'gemini-3-pro-image', { rpm: 7, tpm: 100_000, rpd: 250, ipm: 20 }],
    ['replaces every dimension named', { 'gemini-3-pro-image': { rpm: 1, tpm: 2, rpd: 3, ipm: 4 } }, 'gemini-3-pro-image', { rpm: 1, tpm: 2, rpd: 3, ipm: 4 }],
    ['keys overrides by canonical id: the preview id does not pass its override to the GA id', { 'gemini-3-pro-image-preview': { rpm: 7 } }, 'gemini-3-pro-image', { rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 }],
    ['ignores overrides for other models', { 'gemini-2.5-flash-image': { rpd: 9 } }, 'gemini-3-pro-image', { rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 }],
  ] as const)('%s', (_what, overrides, id, expected) => {
    expect(projectLimitsFor('tier1', overrides, byId(id))).toEqual(expected);
  });

  it('does not let an override leak into the model table', () => {
    projectLimitsFor('tier1', { 'gemini-3-pro-image': { rpm: 1 } }, byId('gemini-3-pro-image'));
    expect(byId('gemini-3-pro-image').limits.tier1.rpm).toBe(20);
    expect(loadModelTable().byId.get('gemini-3-pro-image')!.limits.tier1.rpm).toBe(20);
  });
});
