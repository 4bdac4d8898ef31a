import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { outputTokensForImage, priceAt } from '../../src/models/catalog.js';
import { loadModelTable, ModelTableError } from '../../src/models/model-table.js';
import { computeCost } from '../../src/usage/pricing.js';

const table = loadModelTable();
const model = (id: string) => {
  const m = table.byId.get(id);
  if (!m) throw new Error(`no ${id}`);
  return m;
};

const configWith = (models: string) => `
projects:
  - id: default
    apiKey: k
${models}
`;

function configError(yaml: string): string {
  try {
    parseConfig(yaml, {}, 'gateway.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error('expected a config error');
}

describe('the shipped model table (reference/models-2026-11.md)', () => {
  it('holds today\'s lineup and the retired ids with their replacements', () => {
    expect(table.models.map((m) => m.id)).toEqual([
      'gemini-3-pro-image',
      'gemini-nano-banana-2.1',
      'gemini-3.1-flash-lite-image',
      'gemini-3.1-flash-image',
      'gemini-2.5-flash-image',
      'gemini-3-pro-image-preview',
      'gemini-3.1-flash-image-preview',
      'gemini-2.5-flash-image-preview',
    ]);
    expect(model('gemini-3-pro-image-preview').lifecycle).toMatchObject({ shutdownAtMs: Date.parse('2026-06-25T00:00:00Z'), replacement: 'gemini-3-pro-image' });
    expect(model('gemini-3.1-flash-image').lifecycle).toMatchObject({ stage: 'deprecated', replacement: 'gemini-nano-banana-2.1' });
    expect(model('gemini-3.1-flash-image').lifecycle.shutdownAtMs).toBeUndefined();
  });

  // USD per image = tokens per image x image rate (reference §3).
  it.each([
    ['gemini-3-pro-image', '1K', 134_400_000],
    ['gemini-3-pro-image', '2K', 134_400_000],
    ['gemini-3-pro-image', '4K', 240_000_000],
    ['gemini-nano-banana-2.1', '1K', 33_600_000],
    ['gemini-nano-banana-2.1', '2K', 50_400_000],
    ['gemini-3.1-flash-lite-image', '1K', 33_600_000],
    ['gemini-3.1-flash-image', '512', 44_820_000],
    ['gemini-3.1-flash-image', '4K', 151_200_000],
  ] as const)('prices one %s image at %s as %i nano-USD', (id, size, nano) => {
    const m = model(id);
    const row = priceAt(m, Date.parse('2026-11-28T00:00:00Z'));
    expect(outputTokensForImage(m, size) * row.standard.imageOutputNanoPerToken).toBe(nano);
    expect(outputTokensForImage(m, size) * row.batch.imageOutputNanoPerToken).toBe(nano / 2);
  });

  it('takes what `like` does not say from the model it names, never its aliases', () => {
    const preview = model('gemini-3-pro-image-preview');
    expect(preview.aliases).toEqual([]);
    expect(preview.outputTokensPerImage).toEqual(model('gemini-3-pro-image').outputTokensPerImage);
    expect(preview.inputTokenLimit).toBe(65536);
  });
});

describe('the operator\'s models.override', () => {
  it('overrides one field of a shipped model and leaves the rest', () => {
    const t = loadModelTable({ 'gemini-3-pro-image': { textAllowanceTokens: 100, limits: { tier1: { rpm: 5 } } } });
    const m = t.byId.get('gemini-3-pro-image')!;
    expect(m.textAllowanceTokens).toBe(100);
    expect(m.limits.tier1).toEqual({ rpm: 5, tpm: 100000, rpd: 250, ipm: 20 });
    expect(m.prices).toEqual(model('gemini-3-pro-image').prices);
  });

  it('adds a model, which an alias and the default model may then name', () => {
    const config = parseConfig(
      configWith(`
defaultModel: house-style
aliases: { house-style: acme-image }
models:
  override:
    acme-image:
      like: gemini-3-pro-image
      displayName: Acme image
      lifecycle: { stage: ga, released: 2026-11-01 }
      prices:
        - from: 2026-11-01
          standard: { input: 1, textOutput: 2, imageOutput: 100 }
          batch: { input: 0.5, textOutput: 1, imageOutput: 50 }
`),
      {},
    );
    expect(config.defaultModel).toBe('house-style');
  });

  it.each([
    ['an unknown field', `models: { override: { gemini-3-pro-image: { colour: red } } }`, 'gateway.yaml: models.override.gemini-3-pro-image.colour: unknown field'],
    ['a bad price', `models: { override: { gemini-3-pro-image: { prices: [{ from: 2026-01-01, standard: { input: -1, textOutput: 1, imageOutput: 1 }, batch: { input: 1, textOutput: 1, imageOutput: 1 } }] } } }`, 'gateway.yaml: models.override.gemini-3-pro-image.prices[0].standard.input: must not be negative'],
    ['prices out of date order', `models: { override: { gemini-3-pro-image: { prices: [{ from: 2026-02-01, standard: { input: 1, textOutput: 1, imageOutput: 1 }, batch: { input: 1, textOutput: 1, imageOutput: 1 } }, { from: 2026-01-01, standard: { input: 1, textOutput: 1, imageOutput: 1 }, batch: { input: 1, textOutput: 1, imageOutput: 1 } }] } } }`, 'gateway.yaml: models.override.gemini-3-pro-image.prices[1].from: rows must be in date order, each later than the one before'],
    ['a replacement cycle', `models: { override: { gemini-3-pro-image: { lifecycle: { replacement: gemini-3-pro-image-preview } } } }`, 'a cycle (gemini-3-pro-image -> gemini-3-pro-image-preview -> gemini-3-pro-image)'],
    ['a replacement that does not exist', `models: { override: { gemini-3-pro-image: { lifecycle: { replacement: nope } } } }`, 'gateway.yaml: models.override.gemini-3-pro-image.lifecycle.replacement: unknown model nope'],
    ['a new model missing fields', `models: { override: { acme: { displayName: Acme } } }`, 'gateway.yaml: models.override.acme.description: '],
    ['a like cycle', `models: { override: { a-model: { like: b-model }, b-model: { like: a-model } } }`, 'like: a cycle'],
    ['an alias claimed twice', `models: { override: { gemini-nano-banana-2.1: { aliases: [nano-banana-pro] } } }`, 'aliases: nano-banana-pro is already an alias of'],
    ['a default size the model does not make', `models: { override: { gemini-3.1-flash-lite-image: { defaultImageSize: 2K } } }`, 'gateway.yaml: models.override.gemini-3.1-flash-lite-image.defaultImageSize: 2K is not one of its imageSizes (1K)'],
  ])('refuses %s, naming the field', (_what, yaml, message) => {
    expect(configError(configWith(yaml))).toContain(message);
  });

  it('refuses project limits for a model the table does not have', () => {
    const yaml = `projects:\n  - id: default\n    apiKey: k\n    limits: { gemini-9-image: { rpm: 1 } }\n`;
    expect(configError(yaml)).toContain('projects[0].limits.gemini-9-image: unknown model');
  });

  it('points a config that still has pricing: at the model table', () => {
    expect(configError(configWith(`pricing: { gemini-3-pro-image: { standard: { input: 1 } } }`))).toContain('pricing: moved: set prices per model under models.override.<model-id>.prices');
  });

  it('throws ModelTableError for a broken shipped table', () => {
    expect(() => loadModelTable({}, '/nonexistent/models.yaml')).toThrow(ModelTableError);
  });
});

describe('prices over time', () => {
  const twoRows = loadModelTable({
    'gemini-3-pro-image': {
      prices: [
        { from: '2025-11-20', standard: { input: 2, textOutput: 12, imageOutput: 120 }, batch: { input: 1, textOutput: 6, imageOutput: 60 } },
        { from: '2026-12-01', standard: { input: 2, textOutput: 12, imageOutput: 100 }, batch: { input: 1, textOutput: 6, imageOutput: 50 } },
      ],
    },
  }).byId.get('gemini-3-pro-image')!;
  const usage = { promptTokenCount: 10, candidatesTokenCount: 1120, candidatesTokensDetails: [{ modality: 'IMAGE', tokenCount: 1120 }] };

  it('prices a call at the row in force at its time, and names that row', () => {
    const before = computeCost({ model: twoRows, atMs: Date.parse('2026-11-30T23:59:59Z'), usage, imagesReturned: 1 });
    const after = computeCost({ model: twoRows, atMs: Date.parse('2026-12-01T00:00:00Z'), usage, imagesReturned: 1 });
    expect(before.costNanoUsd).toBe(10 * 2_000 + 1120 * 120_000);
    expect(after.costNanoUsd).toBe(10 * 2_000 + 1120 * 100_000);
    expect(before.priceVersion).toMatch(/^gemini-3-pro-image@2025-11-20#[0-9a-f]{8}$/);
    expect(after.priceVersion).toMatch(/^gemini-3-pro-image@2026-12-01#[0-9a-f]{8}$/);
  });

  it('gives an overridden row a version of its own', () => {
    expect(priceAt(twoRows, Date.parse('2026-01-01T00:00:00Z')).version).toBe(priceAt(model('gemini-3-pro-image'), Date.parse('2026-01-01T00:00:00Z')).version);
    const cheaper = loadModelTable({ 'gemini-3-pro-image': { prices: [{ from: '2025-11-20', standard: { input: 1, textOutput: 12, imageOutput: 120 }, batch: { input: 1, textOutput: 6, imageOutput: 60 } }] } });
    expect(priceAt(cheaper.byId.get('gemini-3-pro-image')!, Date.parse('2026-01-01T00:00:00Z')).version).not.toBe(priceAt(twoRows, Date.parse('2026-01-01T00:00:00Z')).version);
  });
});
