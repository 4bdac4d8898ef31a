/** Vertex AI prices where they differ from the Gemini API's (#17.3): the model table's optional `vertexPrices`. */
import { describe, expect, it } from 'vitest';
import { priceAt } from '../../src/models/catalog.js';
import { loadModelTable, ModelTableError } from '../../src/models/model-table.js';
import { computeCost, holdCostNanoUsd } from '../../src/usage/pricing.js';

const AT = Date.parse('2026-11-27T18:00:00Z');
const USAGE = { promptTokenCount: 10, candidatesTokenCount: 1120, candidatesTokensDetails: [{ modality: 'IMAGE', tokenCount: 1120 }] };
const VERTEX_ROWS = [{ from: '2025-11-20', standard: { input: 2, textOutput: 12, imageOutput: 150 }, batch: { input: 1, textOutput: 6, imageOutput: 75 } }];

describe('vertexPrices', () => {
  it('is absent from the shipped table: a Vertex AI call costs what the Gemini API call costs', () => {
    const pro = loadModelTable().byId.get('gemini-3-pro-image')!;
    expect(pro.vertexPrices).toBeUndefined();
    expect(priceAt(pro, AT, true)).toBe(priceAt(pro, AT));
    expect(computeCost({ model: pro, atMs: AT, usage: USAGE, imagesReturned: 1, vertex: true })).toEqual(computeCost({ model: pro, atMs: AT, usage: USAGE, imagesReturned: 1 }));
  });

  it('prices Vertex AI calls, and their holds, at its rows once a model has them, and marks the version', () => {
    const pro = loadModelTable({ 'gemini-3-pro-image': { vertexPrices: VERTEX_ROWS } }).byId.get('gemini-3-pro-image')!;
    const gemini = computeCost({ model: pro, atMs: AT, usage: USAGE, imagesReturned: 1 });
    const vertex = computeCost({ model: pro, atMs: AT, usage: USAGE, imagesReturned: 1, vertex: true });
    expect(gemini.costNanoUsd).toBe(10 * 2_000 + 1120 * 120_000);
    expect(vertex.costNanoUsd).toBe(10 * 2_000 + 1120 * 150_000);
    expect(vertex.priceVersion).toMatch(/^gemini-3-pro-image@vertex:2025-11-20#[0-9a-f]{8}$/);
    expect(gemini.priceVersion).toMatch(/^gemini-3-pro-image@2025-11-20#/);
    const hold = (vertexCall: boolean) => holdCostNanoUsd(pro, { atMs: AT, estimatedInputTokens: 10, textTokens: 0, vertex: vertexCall });
    expect(hold(true) - hold(false)).toBe(1120 * 30_000);
  });

  it('names the field of a bad row', () => {
    const rows = [VERTEX_ROWS[0], { ...VERTEX_ROWS[0], from: '2025-01-01' }];
    expect(() => loadModelTable({ 'gemini-3-pro-image': { vertexPrices: rows } })).toThrow(new ModelTableError('models.override.gemini-3-pro-image.vertexPrices[1].from: rows must be in date order, each later than the one before'));
    expect(() => loadModelTable({ 'gemini-3-pro-image': { vertexPrices: [] } })).toThrow('models.override.gemini-3-pro-image.vertexPrices: must have at least one price row');
  });
});
