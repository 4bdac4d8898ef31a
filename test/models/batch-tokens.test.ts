import { describe, expect, it } from 'vitest';
import { batchTokenLimit } from '../../src/batch/admission.js';
import { loadModelTable, ModelTableError } from '../../src/models/model-table.js';
import { projectLimitsFor } from '../../src/quota/limits.js';

describe('batchTokens in the model table (#16)', () => {
  const table = loadModelTable();
  const pro = table.byId.get('gemini-3-pro-image')!;

  it('reads a batchTokens limit per tier, kept apart from the quota dimensions', () => {
    expect(pro.batchTokens).toEqual({ free: 0, tier1: 2_000_000, tier2: 20_000_000, tier3: 200_000_000 });
    expect(pro.limits.tier1).toEqual({ rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 });
    expect(projectLimitsFor('tier1', { [pro.id]: { batchTokens: 5 } }, pro)).toEqual({ rpm: 20, tpm: 100_000, rpd: 250, ipm: 20 });
  });

  it("takes a project's own batchTokens over the table's, per model", () => {
    expect(batchTokenLimit({ id: 'p', apiKey: 'k', tier: 'tier2' }, pro)).toBe(20_000_000);
    expect(batchTokenLimit({ id: 'p', apiKey: 'k', tier: 'tier2', limits: { [pro.id]: { batchTokens: 7 } } }, pro)).toBe(7);
    expect(batchTokenLimit({ id: 'p', apiKey: 'k', tier: 'tier2', limits: { other: { batchTokens: 7 } } }, pro)).toBe(20_000_000);
  });

  it('refuses a bad batchTokens with its field path, and takes none as unlimited', () => {
    expect(() => loadModelTable({ 'gemini-3-pro-image': { limits: { tier1: { batchTokens: -1 } } } })).toThrow(ModelTableError);
    expect(() => loadModelTable({ 'gemini-3-pro-image': { limits: { tier1: { batchTokens: -1 } } } })).toThrow('models.override.gemini-3-pro-image.limits.tier1.batchTokens: must not be negative');
    const model = loadModelTable({ 'my-model': { like: 'gemini-3-pro-image', limits: { tier1: { rpm: 1 } } } }).byId.get('my-model')!;
    expect(model.batchTokens.tier1).toBe(2_000_000);
  });
});
