import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { outputTokensForImage, priceAt, type ImageSize, type ModelSpec } from '../../src/models/catalog.js';
import { loadModelTable, type ModelTable } from '../../src/models/model-table.js';
import type { ModalityTokenCount, UsageMetadata } from '../../src/gemini/types.js';
import { formatUsd, nanoToMicroUsd } from '../../src/usage/money.js';
import { computeCost, worstCaseCostNanoUsd, type CostInput } from '../../src/usage/pricing.js';

const TABLE = loadModelTable();
const MODELS = TABLE.models;

function model(id: string, table: ModelTable = TABLE): ModelSpec {
  const m = table.byId.get(id);
  if (!m) throw new Error(`no model ${id} in the model table`);
  return m;
}

/** The day the table describes (config/models.yaml: "State of 2026-11-28"). */
const AT = Date.parse('2026-11-28T12:00:00Z');

const PRO = model('gemini-3-pro-image');
const FLASH31 = model('gemini-3.1-flash-image');
const FLASH25 = model('gemini-2.5-flash-image');
const NB21 = model('gemini-nano-banana-2.1');
const LITE = model('gemini-3.1-flash-lite-image');

/**
 * pricing.md §4 works its 3.1 Flash examples at $0.25 / $1.50 / $60 per 1M (its §1 row); the
 * table ships $0.50 / $3.00 / $60 (models-2026-11.md §3: the rates conflict). The worked
 * examples are kept row for row by overriding the 3.1 Flash row as an operator would.
 */
const PRICING_MD_FLASH31_ROW = {
  from: '2026-02-26',
  standard: { input: 0.25, textOutput: 1.5, imageOutput: 60 },
  batch: { input: 0.125, textOutput: 0.75, imageOutput: 30 },
};
const FLASH31_AT_PRICING_MD = model('gemini-3.1-flash-image', loadModelTable({ 'gemini-3.1-flash-image': { prices: [PRICING_MD_FLASH31_ROW] } }));

const text = (tokenCount: number): ModalityTokenCount => ({ modality: 'TEXT', tokenCount });
const image = (tokenCount: number): ModalityTokenCount => ({ modality: 'IMAGE', tokenCount });

interface Example {
  name: string;
  input: CostInput;
  costNanoUsd: number;
  usd: string;
  /** The price row's version up to its rates hash: `<model>@<row date>`. */
  priceRow: string;
  tokens: { inputTokens: number; outputImageTokens: number; outputTextTokens: number; thinkingTokens: number };
}

const E1_USAGE: UsageMetadata = {
  promptTokenCount: 20,
  promptTokensDetails: [text(20)],
  candidatesTokenCount: 1120,
  candidatesTokensDetails: [image(1120)],
  thoughtsTokenCount: 0,
};

// reference/pricing.md §4, row for row.
const EXAMPLES: Example[] = [
  {
    name: 'E1 Pro, standard, 1K',
    input: { model: PRO, atMs: AT, usage: E1_USAGE, imagesReturned: 1, imageSize: '1K' },
    costNanoUsd: 134_440_000,
    usd: '0.134440',
    priceRow: 'gemini-3-pro-image@2025-11-20',
    tokens: { inputTokens: 20, outputImageTokens: 1120, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'E2 Pro, standard, 2K with thinking',
    input: {
      model: PRO,
      atMs: AT,
      usage: { promptTokenCount: 45, promptTokensDetails: [text(45)], candidatesTokenCount: 1130, candidatesTokensDetails: [image(1120), text(10)], thoughtsTokenCount: 220 },
      imagesReturned: 1,
      imageSize: '2K',
    },
    costNanoUsd: 137_250_000,
    usd: '0.137250',
    priceRow: 'gemini-3-pro-image@2025-11-20',
    tokens: { inputTokens: 45, outputImageTokens: 1120, outputTextTokens: 10, thinkingTokens: 220 },
  },
  {
    name: 'E3 Pro, standard, 4K with 3 reference images',
    input: {
      model: PRO,
      atMs: AT,
      usage: { promptTokenCount: 1740, promptTokensDetails: [text(60), image(1680)], candidatesTokenCount: 2000, candidatesTokensDetails: [image(2000)], thoughtsTokenCount: 300 },
      imagesReturned: 1,
      imageSize: '4K',
    },
    costNanoUsd: 247_080_000,
    usd: '0.247080',
    priceRow: 'gemini-3-pro-image@2025-11-20',
    tokens: { inputTokens: 1740, outputImageTokens: 2000, outputTextTokens: 0, thinkingTokens: 300 },
  },
  {
    name: 'E4 Pro, batch, 1K',
    input: { model: PRO, atMs: AT, batch: true, usage: E1_USAGE, imagesReturned: 1, imageSize: '1K' },
    costNanoUsd: 67_220_000,
    usd: '0.067220',
    priceRow: 'gemini-3-pro-image@2025-11-20',
    tokens: { inputTokens: 20, outputImageTokens: 1120, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'E5 3.1 Flash, standard, 512 (rounds half-up)',
    input: {
      model: FLASH31_AT_PRICING_MD,
      atMs: AT,
      usage: { promptTokenCount: 31, promptTokensDetails: [text(31)], candidatesTokenCount: 747, candidatesTokensDetails: [image(747)], thoughtsTokenCount: 0 },
      imagesReturned: 1,
      imageSize: '512',
    },
    costNanoUsd: 44_827_750,
    usd: '0.044828',
    priceRow: 'gemini-3.1-flash-image@2026-02-26',
    tokens: { inputTokens: 31, outputImageTokens: 747, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'E6 3.1 Flash, standard, 2K with thinking',
    input: {
      model: FLASH31_AT_PRICING_MD,
      atMs: AT,
      usage: { promptTokenCount: 50, promptTokensDetails: [text(50)], candidatesTokenCount: 1705, candidatesTokensDetails: [image(1680), text(25)], thoughtsTokenCount: 400 },
      imagesReturned: 1,
      imageSize: '2K',
    },
    costNanoUsd: 101_450_000,
    usd: '0.101450',
    priceRow: 'gemini-3.1-flash-image@2026-02-26',
    tokens: { inputTokens: 50, outputImageTokens: 1680, outputTextTokens: 25, thinkingTokens: 400 },
  },
  {
    name: 'E7 3.1 Flash, batch, 4K with 3 reference images',
    input: {
      model: FLASH31_AT_PRICING_MD,
      atMs: AT,
      batch: true,
      usage: { promptTokenCount: 3400, promptTokensDetails: [text(40), image(3360)], candidatesTokenCount: 2520, candidatesTokensDetails: [image(2520)] },
      imagesReturned: 1,
      imageSize: '4K',
    },
    costNanoUsd: 76_025_000,
    usd: '0.076025',
    priceRow: 'gemini-3.1-flash-image@2026-02-26',
    tokens: { inputTokens: 3400, outputImageTokens: 2520, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'E8 2.5 Flash Image, standard',
    input: {
      model: FLASH25,
      atMs: AT,
      usage: { promptTokenCount: 12, promptTokensDetails: [text(12)], candidatesTokenCount: 1290, candidatesTokensDetails: [image(1290)] },
      imagesReturned: 1,
    },
    costNanoUsd: 38_703_600,
    usd: '0.038704',
    priceRow: 'gemini-2.5-flash-image@2025-08-26',
    tokens: { inputTokens: 12, outputImageTokens: 1290, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'E9 2.5 Flash Image, batch, 3 small reference images',
    input: {
      model: FLASH25,
      atMs: AT,
      batch: true,
      usage: { promptTokenCount: 799, promptTokensDetails: [text(25), image(774)], candidatesTokenCount: 1308, candidatesTokensDetails: [image(1290), text(18)] },
      imagesReturned: 1,
    },
    costNanoUsd: 19_492_350,
    usd: '0.019492',
    priceRow: 'gemini-2.5-flash-image@2025-08-26',
    tokens: { inputTokens: 799, outputImageTokens: 1290, outputTextTokens: 18, thinkingTokens: 0 },
  },
  {
    name: 'E10 Pro, standard, no image came back',
    input: { model: PRO, atMs: AT, usage: { promptTokenCount: 35, promptTokensDetails: [text(35)], thoughtsTokenCount: 180 }, imagesReturned: 0, imageSize: '1K' },
    costNanoUsd: 2_230_000,
    usd: '0.002230',
    priceRow: 'gemini-3-pro-image@2025-11-20',
    tokens: { inputTokens: 35, outputImageTokens: 0, outputTextTokens: 0, thinkingTokens: 180 },
  },
  {
    name: 'E11 3.1 Flash, standard, two 1K images in one candidate',
    input: {
      model: FLASH31_AT_PRICING_MD,
      atMs: AT,
      usage: { promptTokenCount: 28, promptTokensDetails: [text(28)], candidatesTokenCount: 2280, candidatesTokensDetails: [image(2240), text(40)] },
      imagesReturned: 2,
      imageSize: '1K',
    },
    costNanoUsd: 134_467_000,
    usd: '0.134467',
    priceRow: 'gemini-3.1-flash-image@2026-02-26',
    tokens: { inputTokens: 28, outputImageTokens: 2240, outputTextTokens: 40, thinkingTokens: 0 },
  },
  {
    name: 'E12 Pro, standard, details missing, one 2K image part',
    input: { model: PRO, atMs: AT, usage: { promptTokenCount: 600, candidatesTokenCount: 1130, thoughtsTokenCount: 90 }, imagesReturned: 1, imageSize: '2K' },
    costNanoUsd: 136_800_000,
    usd: '0.136800',
    priceRow: 'gemini-3-pro-image@2025-11-20',
    tokens: { inputTokens: 600, outputImageTokens: 1120, outputTextTokens: 10, thinkingTokens: 90 },
  },
];

// The lineup of models-2026-11.md §3 at the rates config/models.yaml ships (USD per 1M tokens:
// 2.1 1.50 / 7.50 / 30; Lite 0.25 / 1.50 / 30, batch 0.125 / 0.75 / 15; 3.1 Flash 0.50 / 3.00 / 60,
// batch 0.25 / 1.50 / 30). Its per-image prices: 2.1 $0.0336 / 0.0504 / ~0.1134, Lite $0.0336 / 0.0168.
const LINEUP: Example[] = [
  {
    name: 'L1 Nano Banana 2.1, standard, 1K',
    input: { model: NB21, atMs: AT, usage: E1_USAGE, imagesReturned: 1, imageSize: '1K' },
    costNanoUsd: 33_630_000,
    usd: '0.033630',
    priceRow: 'gemini-nano-banana-2.1@2026-10-06',
    tokens: { inputTokens: 20, outputImageTokens: 1120, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'L2 Nano Banana 2.1, standard, 2K with thinking',
    input: {
      model: NB21,
      atMs: AT,
      usage: { promptTokenCount: 50, promptTokensDetails: [text(50)], candidatesTokenCount: 1705, candidatesTokensDetails: [image(1680), text(25)], thoughtsTokenCount: 400 },
      imagesReturned: 1,
      imageSize: '2K',
    },
    // 50×1,500 = 75,000; 1680×30,000 = 50,400,000; 425×7,500 = 3,187,500 (half a micro-USD: up).
    costNanoUsd: 53_662_500,
    usd: '0.053663',
    priceRow: 'gemini-nano-banana-2.1@2026-10-06',
    tokens: { inputTokens: 50, outputImageTokens: 1680, outputTextTokens: 25, thinkingTokens: 400 },
  },
  {
    name: 'L3 Nano Banana 2.1, standard, 4K',
    input: {
      model: NB21,
      atMs: AT,
      usage: { promptTokenCount: 20, promptTokensDetails: [text(20)], candidatesTokenCount: 3780, candidatesTokensDetails: [image(3780)] },
      imagesReturned: 1,
      imageSize: '4K',
    },
    costNanoUsd: 113_430_000,
    usd: '0.113430',
    priceRow: 'gemini-nano-banana-2.1@2026-10-06',
    tokens: { inputTokens: 20, outputImageTokens: 3780, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'L4 Nano Banana 2 Lite, standard, 1K',
    input: { model: LITE, atMs: AT, usage: E1_USAGE, imagesReturned: 1, imageSize: '1K' },
    costNanoUsd: 33_605_000,
    usd: '0.033605',
    priceRow: 'gemini-3.1-flash-lite-image@2026-06-30',
    tokens: { inputTokens: 20, outputImageTokens: 1120, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'L5 Nano Banana 2 Lite, batch, 1K (rounds half-up)',
    input: { model: LITE, atMs: AT, batch: true, usage: E1_USAGE, imagesReturned: 1, imageSize: '1K' },
    costNanoUsd: 16_802_500,
    usd: '0.016803',
    priceRow: 'gemini-3.1-flash-lite-image@2026-06-30',
    tokens: { inputTokens: 20, outputImageTokens: 1120, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'L6 3.1 Flash at the shipped rates, standard, 512 (E5\'s usage)',
    input: { ...EXAMPLES[4]!.input, model: FLASH31 },
    // 31×500 = 15,500; 747×60,000 = 44,820,000.
    costNanoUsd: 44_835_500,
    usd: '0.044836',
    priceRow: 'gemini-3.1-flash-image@2026-02-26',
    tokens: EXAMPLES[4]!.tokens,
  },
  {
    name: 'L7 3.1 Flash at the shipped rates, batch, 4K (E7\'s usage)',
    input: { ...EXAMPLES[6]!.input, model: FLASH31 },
    // 3400×250 = 850,000; 2520×30,000 = 75,600,000.
    costNanoUsd: 76_450_000,
    usd: '0.076450',
    priceRow: 'gemini-3.1-flash-image@2026-02-26',
    tokens: EXAMPLES[6]!.tokens,
  },
];

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('computeCost on the worked examples of pricing.md §4', () => {
  it.each(EXAMPLES)('$name costs $costNanoUsd nano-USD, shown as $usd', (ex) => {
    const cost = computeCost(ex.input);
    const { priceVersion, ...rest } = cost;
    expect(rest).toEqual({ ...ex.tokens, costNanoUsd: ex.costNanoUsd, estimated: false });
    expect(priceVersion).toMatch(new RegExp(`^${escapeRegExp(ex.priceRow)}#[0-9a-f]{8}$`));
    expect(formatUsd(cost.costNanoUsd)).toBe(ex.usd);
  });
});

describe("computeCost on today's lineup (models-2026-11.md §3, config/models.yaml)", () => {
  it.each(LINEUP)('$name costs $costNanoUsd nano-USD, shown as $usd', (ex) => {
    const cost = computeCost(ex.input);
    const { priceVersion, ...rest } = cost;
    expect(rest).toEqual({ ...ex.tokens, costNanoUsd: ex.costNanoUsd, estimated: false });
    expect(priceVersion).toMatch(new RegExp(`^${escapeRegExp(ex.priceRow)}#[0-9a-f]{8}$`));
    expect(formatUsd(cost.costNanoUsd)).toBe(ex.usd);
  });
});

describe("the model table's prices", () => {
  it('prices every model of the table, each row later than the one before', () => {
    for (const m of MODELS) {
      expect(m.prices.length, m.id).toBeGreaterThan(0);
      m.prices.forEach((row, i) => {
        if (i > 0) expect(row.fromMs).toBeGreaterThan(m.prices[i - 1]!.fromMs);
      });
    }
  });

  it.each([
    ['gemini-3-pro-image', { inputNanoPerToken: 2_000, textOutputNanoPerToken: 12_000, imageOutputNanoPerToken: 120_000 }],
    ['gemini-nano-banana-2.1', { inputNanoPerToken: 1_500, textOutputNanoPerToken: 7_500, imageOutputNanoPerToken: 30_000 }],
    ['gemini-3.1-flash-lite-image', { inputNanoPerToken: 250, textOutputNanoPerToken: 1_500, imageOutputNanoPerToken: 30_000 }],
    ['gemini-3.1-flash-image', { inputNanoPerToken: 500, textOutputNanoPerToken: 3_000, imageOutputNanoPerToken: 60_000 }],
    ['gemini-2.5-flash-image', { inputNanoPerToken: 300, textOutputNanoPerToken: 2_500, imageOutputNanoPerToken: 30_000 }],
  ] as const)('ships the standard rates of %s from the reference', (id, standard) => {
    expect(priceAt(model(id), AT).standard).toEqual(standard);
  });

  it.each(MODELS.map((m) => m.id))('charges %s exactly half the standard rates in batch', (id) => {
    for (const { standard, batch } of model(id).prices) {
      expect(batch.inputNanoPerToken * 2).toBe(standard.inputNanoPerToken);
      expect(batch.textOutputNanoPerToken * 2).toBe(standard.textOutputNanoPerToken);
      expect(batch.imageOutputNanoPerToken * 2).toBe(standard.imageOutputNanoPerToken);
    }
  });

  it('holds whole nano-USD rates only', () => {
    for (const m of MODELS) {
      for (const row of m.prices) {
        for (const r of [row.standard, row.batch]) {
          for (const v of Object.values(r)) expect(Number.isSafeInteger(v)).toBe(true);
        }
      }
    }
  });

  it.each([
    ['gemini-3-pro-image', 'gemini-3-pro-image-preview'],
    ['gemini-3.1-flash-image', 'gemini-3.1-flash-image-preview'],
  ])('prices the GA id %s exactly like %s', (gaId, previewId) => {
    fc.assert(
      fc.property(wellFormedUsage(), fc.boolean(), fc.nat({ max: 3 }), (usage, batch, imagesReturned) => {
        const { priceVersion: gaVersion, ...ga } = computeCost({ model: model(gaId), atMs: AT, usage, batch, imagesReturned });
        const { priceVersion: previewVersion, ...preview } = computeCost({ model: model(previewId), atMs: AT, usage, batch, imagesReturned });
        expect(ga).toEqual(preview);
        // Each record names its own model's row; the rates hash after `#` is the same.
        expect(gaVersion.split('#')[1]).toBe(previewVersion.split('#')[1]);
      }),
    );
  });

  it('bills a batch call exactly half of the same call at standard rates', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MODELS), wellFormedUsage(), fc.nat({ max: 3 }), (m, usage, imagesReturned) => {
        const standard = computeCost({ model: m, atMs: AT, usage, imagesReturned });
        const batch = computeCost({ model: m, atMs: AT, usage, imagesReturned, batch: true });
        expect(batch.costNanoUsd * 2).toBe(standard.costNanoUsd);
      }),
    );
  });
});

describe('computeCost when usageMetadata is incomplete', () => {
  it('falls back to the estimate and flags it when there is no usage at all', () => {
    const cost = computeCost({ model: PRO, atMs: AT, usage: undefined, imagesReturned: 0, estimatedInputTokens: 100 });
    expect(cost).toMatchObject({ inputTokens: 100, costNanoUsd: 100 * 2_000, estimated: true });
  });

  it('bills nothing and estimates nothing without usage or estimate (a failed call)', () => {
    const cost = computeCost({ model: PRO, atMs: AT, usage: undefined, imagesReturned: 0, imageSize: '4K' });
    expect(cost).toMatchObject({ costNanoUsd: 0, inputTokens: 0, outputImageTokens: 0, estimated: false });
  });

  it('sums promptTokensDetails when promptTokenCount is missing, without flagging an estimate', () => {
    const cost = computeCost({
      model: PRO,
      atMs: AT,
      usage: { promptTokensDetails: [text(60), image(1680)], candidatesTokensDetails: [image(2000)] },
      imagesReturned: 1,
      estimatedInputTokens: 5,
    });
    expect(cost).toMatchObject({ inputTokens: 1740, estimated: false, costNanoUsd: 1740 * 2_000 + 2000 * 120_000 });
  });

  it('prefers reported prompt counts over the estimate', () => {
    const cost = computeCost({ model: FLASH31, atMs: AT, usage: { promptTokenCount: 31 }, imagesReturned: 0, estimatedInputTokens: 9999 });
    expect(cost).toMatchObject({ inputTokens: 31, estimated: false });
  });

  it('bills an image part at the requested size when no details and no candidates count came back', () => {
    const cost = computeCost({ model: FLASH31, atMs: AT, usage: { promptTokenCount: 10 }, imagesReturned: 2, imageSize: '2K' });
    // models.yaml: 3.1 Flash input $0.50/M (500 nano), image $60/M; 1680 tokens per 2K image.
    expect(cost).toMatchObject({ outputImageTokens: 2 * 1680, outputTextTokens: 0, costNanoUsd: 10 * 500 + 3360 * 60_000 });
  });

  it("uses the model's default size when the request named none", () => {
    const cost = computeCost({ model: PRO, atMs: AT, usage: { promptTokenCount: 10 }, imagesReturned: 1 });
    // Pro's default is 1K: 1120 tokens (models.yaml).
    expect(cost.outputImageTokens).toBe(1120);
    expect(cost.outputImageTokens).toBe(outputTokensForImage(PRO, PRO.defaultImageSize));
  });

  it('trusts a reported candidates total that is smaller than the per-image constant', () => {
    const cost = computeCost({
      model: FLASH31,
      atMs: AT,
      usage: { promptTokenCount: 10, candidatesTokenCount: 1200 },
      imagesReturned: 1,
      imageSize: '2K',
    });
    expect(cost).toMatchObject({ outputImageTokens: 1200, outputTextTokens: 0 });
  });

  it('treats an empty candidatesTokensDetails like a missing one', () => {
    const cost = computeCost({
      model: PRO,
      atMs: AT,
      usage: { promptTokenCount: 600, candidatesTokenCount: 1130, candidatesTokensDetails: [], thoughtsTokenCount: 90 },
      imagesReturned: 1,
      imageSize: '2K',
    });
    expect(cost.costNanoUsd).toBe(136_800_000);
  });

  it('never invents output when no image came back and nothing was counted', () => {
    const cost = computeCost({ model: PRO, atMs: AT, usage: { promptTokenCount: 35 }, imagesReturned: 0, imageSize: '4K' });
    expect(cost).toMatchObject({ outputImageTokens: 0, outputTextTokens: 0, costNanoUsd: 70_000 });
  });

  it('bills unknown output modalities and unexplained candidate tokens as text', () => {
    const cost = computeCost({
      model: PRO,
      atMs: AT,
      usage: { promptTokenCount: 0, candidatesTokenCount: 1150, candidatesTokensDetails: [image(1120), { modality: 'AUDIO', tokenCount: 7 }, text(3)] },
      imagesReturned: 1,
    });
    expect(cost).toMatchObject({ outputImageTokens: 1120, outputTextTokens: 30 });
  });

  it('never bills less than the listed details when the candidates total is missing', () => {
    const cost = computeCost({
      model: FLASH31,
      atMs: AT,
      usage: { candidatesTokensDetails: [image(1120), { modality: 'AUDIO', tokenCount: 5 }] },
      imagesReturned: 1,
    });
    expect(cost).toMatchObject({ outputImageTokens: 1120, outputTextTokens: 5 });
  });

  it('bills tool-use prompt tokens at the input rate', () => {
    const cost = computeCost({ model: PRO, atMs: AT, usage: { promptTokenCount: 20, toolUsePromptTokenCount: 300 }, imagesReturned: 0 });
    expect(cost).toMatchObject({ inputTokens: 320, costNanoUsd: 320 * 2_000 });
  });

  it.each<[string, UsageMetadata]>([
    ['a negative count', { promptTokenCount: -5, promptTokensDetails: [text(7)] }],
    ['NaN', { promptTokenCount: Number.NaN, promptTokensDetails: [text(7)] }],
    ['a string', { promptTokenCount: '12' as unknown as number, promptTokensDetails: [text(7)] }],
  ])('ignores %s and falls back to the next source', (_label, usage) => {
    expect(computeCost({ model: PRO, atMs: AT, usage, imagesReturned: 0 }).inputTokens).toBe(7);
  });

  it('rounds a fractional count up rather than bill less', () => {
    expect(computeCost({ model: PRO, atMs: AT, usage: { thoughtsTokenCount: 10.2 }, imagesReturned: 0 }).thinkingTokens).toBe(11);
  });
});

describe('prices in models.override (the config)', () => {
  const row = (from: string, standard: Record<string, unknown>, batch: Record<string, unknown> = {}) => ({
    from,
    standard: { input: 2, textOutput: 12, imageOutput: 120, ...standard },
    batch: { input: 1, textOutput: 6, imageOutput: 60, ...batch },
  });

  it('keeps the shipped prices without an override', () => {
    expect(loadModelTable({}).byId.get('gemini-3-pro-image')!.prices).toEqual(PRO.prices);
  });

  it('replaces the prices of the model named and leaves the others alone', () => {
    const table = loadModelTable({ 'gemini-3.1-flash-image': { prices: [PRICING_MD_FLASH31_ROW] } });
    expect(priceAt(model('gemini-3.1-flash-image', table), AT)).toMatchObject({
      standard: { inputNanoPerToken: 250, textOutputNanoPerToken: 1_500, imageOutputNanoPerToken: 60_000 },
      batch: { inputNanoPerToken: 125, textOutputNanoPerToken: 750, imageOutputNanoPerToken: 30_000 },
    });
    expect(model('gemini-3-pro-image', table).prices).toEqual(PRO.prices);
    expect(model('gemini-2.5-flash-image', table).prices).toEqual(FLASH25.prices);
    expect(model('gemini-nano-banana-2.1', table).prices).toEqual(NB21.prices);
  });

  it('prices the preview id like its GA id after overriding the GA id, which it is `like`', () => {
    const table = loadModelTable({ 'gemini-3.1-flash-image': { prices: [PRICING_MD_FLASH31_ROW] } });
    const e5 = EXAMPLES[4]!;
    const viaGa = computeCost({ ...e5.input, model: model('gemini-3.1-flash-image', table) });
    const viaPreview = computeCost({ ...e5.input, model: model('gemini-3.1-flash-image-preview', table) });
    expect(viaGa.costNanoUsd).toBe(31 * 250 + 747 * 60_000);
    expect(viaPreview.costNanoUsd).toBe(viaGa.costNanoUsd);
  });

  it('keys prices by model id: overriding the preview id leaves the GA id alone', () => {
    const table = loadModelTable({ 'gemini-3-pro-image-preview': { prices: [row('2025-11-20', { input: 3 })] } });
    expect(priceAt(model('gemini-3-pro-image-preview', table), AT).standard.inputNanoPerToken).toBe(3_000);
    expect(model('gemini-3-pro-image', table).prices).toEqual(PRO.prices);
  });

  it('uses an explicit batch rate as given', () => {
    const table = loadModelTable({ 'gemini-3-pro-image': { prices: [row('2025-11-20', {}, { imageOutput: 50 })] } });
    expect(priceAt(model('gemini-3-pro-image', table), AT).batch.imageOutputNanoPerToken).toBe(50_000);
    expect(priceAt(model('gemini-3-pro-image', table), AT).standard).toEqual(priceAt(PRO, AT).standard);
  });

  it('accepts rates with up to 3 decimal places despite binary floating point', () => {
    const table = loadModelTable({
      'gemini-2.5-flash-image': { prices: [{ from: '2025-08-26', standard: { input: 1.1, textOutput: 2.5, imageOutput: 30 }, batch: { input: 0.125, textOutput: 1.25, imageOutput: 15 } }] },
    });
    expect(priceAt(model('gemini-2.5-flash-image', table), AT).standard.inputNanoPerToken).toBe(1_100);
    expect(priceAt(model('gemini-2.5-flash-image', table), AT).batch.inputNanoPerToken).toBe(125);
  });

  it('gives one version to the same rates and another to different rates', () => {
    const a = priceAt(model('gemini-3-pro-image', loadModelTable({ 'gemini-3-pro-image': { prices: [row('2025-11-20', { input: 3 })] } })), AT);
    const b = priceAt(model('gemini-3-pro-image', loadModelTable({ 'gemini-3-pro-image': { prices: [row('2025-11-20', { input: 3.0 })] } })), AT);
    const other = priceAt(model('gemini-3-pro-image', loadModelTable({ 'gemini-3-pro-image': { prices: [row('2025-11-20', { input: 4 })] } })), AT);
    expect(b.version).toBe(a.version);
    expect(other.version).not.toBe(a.version);
    expect(other.version).toMatch(/^gemini-3-pro-image@2025-11-20#[0-9a-f]{8}$/);
  });

  it('keeps the shipped version when the override restates the shipped rates', () => {
    const restated = loadModelTable({ 'gemini-3-pro-image': { prices: [row('2025-11-20', {})] } });
    expect(priceAt(model('gemini-3-pro-image', restated), AT).version).toBe(priceAt(PRO, AT).version);
  });

  it.each<[string, unknown, RegExp]>([
    ['a new model without its fields', { 'gemini-9-image': { prices: [row('2026-11-01', {})] } }, /^models\.override\.gemini-9-image\./],
    ['a negative rate', { 'gemini-3-pro-image': { prices: [row('2025-11-20', { input: -1 })] } }, /^models\.override\.gemini-3-pro-image\.prices\[0\]\.standard\.input: must not be negative/],
    ['a fraction of a nano-USD', { 'gemini-3-pro-image': { prices: [row('2025-11-20', {}, { textOutput: 0.0005 })] } }, /^models\.override\.gemini-3-pro-image\.prices\[0\]\.batch\.textOutput: .*3 decimal places/],
    ['a rate that is not a number', { 'gemini-3-pro-image': { prices: [row('2025-11-20', { input: '2' })] } }, /^models\.override\.gemini-3-pro-image\.prices\[0\]\.standard\.input: must be a number/],
    ['an infinite rate', { 'gemini-3-pro-image': { prices: [row('2025-11-20', { input: Number.POSITIVE_INFINITY })] } }, /^models\.override\.gemini-3-pro-image\.prices\[0\]\.standard\.input: must be/],
    ['an absurd rate', { 'gemini-3-pro-image': { prices: [row('2025-11-20', { input: 20_000 })] } }, /^models\.override\.gemini-3-pro-image\.prices\[0\]\.standard\.input: must be at most/],
    ['an unknown rate name', { 'gemini-3-pro-image': { prices: [row('2025-11-20', { output: 1 })] } }, /^models\.override\.gemini-3-pro-image\.prices\[0\]\.standard\.output: unknown field/],
    ['an unknown mode', { 'gemini-3-pro-image': { prices: [{ ...row('2025-11-20', {}), flex: { input: 1, textOutput: 6, imageOutput: 60 } }] } }, /^models\.override\.gemini-3-pro-image\.prices\[0\]\.flex: unknown field/],
    ['a row without batch rates', { 'gemini-3-pro-image': { prices: [{ from: '2025-11-20', standard: { input: 2, textOutput: 12, imageOutput: 120 } }] } }, /^models\.override\.gemini-3-pro-image\.prices\[0\]\.batch: /],
    ['no price row at all', { 'gemini-3-pro-image': { prices: [] } }, /^models\.override\.gemini-3-pro-image\.prices: must have at least one price row/],
    [
      'rows out of date order',
      { 'gemini-3-pro-image': { prices: [row('2026-12-01', { input: 3 }), row('2025-11-20', {})] } },
      /^models\.override\.gemini-3-pro-image\.prices\[1\]\.from: rows must be in date order/,
    ],
  ])('refuses %s, naming the field', (_label, override, message) => {
    expect(() => loadModelTable(override as Record<string, unknown>)).toThrow(message);
  });

  it('prices a call at the row in force at its time, and a call before the first row at the first', () => {
    const table = loadModelTable({ 'gemini-3-pro-image': { prices: [row('2025-11-20', {}), row('2026-12-01', { input: 3 })] } });
    const pro = model('gemini-3-pro-image', table);
    const usage: UsageMetadata = { promptTokenCount: 100 };
    const before = computeCost({ model: pro, atMs: Date.parse('2026-11-30T23:59:59.999Z'), usage, imagesReturned: 0 });
    const after = computeCost({ model: pro, atMs: Date.parse('2026-12-01T00:00:00Z'), usage, imagesReturned: 0 });
    const earliest = computeCost({ model: pro, atMs: Date.parse('2025-01-01T00:00:00Z'), usage, imagesReturned: 0 });
    expect(before).toMatchObject({ costNanoUsd: 100 * 2_000 });
    expect(before.priceVersion).toMatch(/^gemini-3-pro-image@2025-11-20#/);
    expect(after).toMatchObject({ costNanoUsd: 100 * 3_000 });
    expect(after.priceVersion).toMatch(/^gemini-3-pro-image@2026-12-01#/);
    expect(earliest.priceVersion).toBe(before.priceVersion);
  });
});

describe('formatUsd and nanoToMicroUsd', () => {
  it.each<[number | bigint, string]>([
    [0, '0.000000'],
    [499, '0.000000'],
    [500, '0.000001'],
    [1_499, '0.000001'],
    [1_500, '0.000002'],
    [44_827_750, '0.044828'],
    [19_492_350, '0.019492'],
    [999_999_499, '0.999999'],
    [999_999_500, '1.000000'],
    [1_000_000_000, '1.000000'],
    [123_456_789_012, '123.456789'],
    [Number.MAX_SAFE_INTEGER, '9007199.254741'],
    [9_007_199_254_740_993_500n, '9007199254.740994'],
    [2n ** 64n, '18446744073.709552'],
    [-500, '-0.000001'],
    [-499, '0.000000'],
  ])('formats %s nano-USD as %s', (nano, usd) => {
    expect(formatUsd(nano)).toBe(usd);
  });

  it('refuses a fractional nano-USD amount', () => {
    expect(() => formatUsd(1.5)).toThrow(RangeError);
  });

  it.each<[number, number]>([
    [0, 0],
    [499, 0],
    [500, 1],
    [1_499, 1],
    [44_827_750, 44_828],
    [19_492_350, 19_492],
  ])('turns %s nano-USD into %s micro-USD', (nano, micro) => {
    expect(nanoToMicroUsd(nano)).toBe(micro);
  });

  it('rounds any amount, however large, half-up to the nearest micro-USD', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 96n }), (nano) => {
        const shown = formatUsd(nano);
        expect(shown).toMatch(/^\d+\.\d{6}$/);
        const micro = BigInt(shown.replace('.', ''));
        const remainder = nano - micro * 1000n;
        expect(remainder >= -500n && remainder <= 499n).toBe(true);
      }),
    );
  });
});

/** Well-formed usage as Google sends it: non-negative integers, details present or not. */
function wellFormedUsage(): fc.Arbitrary<UsageMetadata> {
  return fc
    .record({
      prompt: fc.nat({ max: 140_000 }),
      imageOut: fc.nat({ max: 12_000 }),
      textOut: fc.nat({ max: 32_768 }),
      extraCandidates: fc.nat({ max: 100 }),
      thoughts: fc.nat({ max: 32_768 }),
      withDetails: fc.boolean(),
    })
    .map(({ prompt, imageOut, textOut, extraCandidates, thoughts, withDetails }) => ({
      promptTokenCount: prompt,
      candidatesTokenCount: imageOut + textOut + extraCandidates,
      thoughtsTokenCount: thoughts,
      ...(withDetails ? { candidatesTokensDetails: [image(imageOut), text(textOut)] } : {}),
    }));
}

const junkNumber = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.double({ min: -1e6, max: 1e6 }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, undefined),
);
const junkDetails = fc.option(
  fc.array(fc.record({ modality: fc.constantFrom('TEXT', 'IMAGE', 'image', 'AUDIO', undefined), tokenCount: junkNumber }), { maxLength: 4 }),
  { nil: undefined },
);

describe('computeCost properties', () => {
  it('is never negative and always a whole number of nano-USD, whatever Google sends', () => {
    const junkUsage = fc.option(
      fc.record({
        promptTokenCount: junkNumber,
        candidatesTokenCount: junkNumber,
        thoughtsTokenCount: junkNumber,
        toolUsePromptTokenCount: junkNumber,
        promptTokensDetails: junkDetails,
        candidatesTokensDetails: junkDetails,
      }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(fc.constantFrom(...MODELS), junkUsage, junkNumber, fc.boolean(), (m, usage, imagesReturned, batch) => {
        const cost = computeCost({ model: m, atMs: AT, usage: usage as UsageMetadata | undefined, imagesReturned: imagesReturned ?? 0, batch });
        expect(cost.costNanoUsd).toBeGreaterThanOrEqual(0);
        expect(Number.isSafeInteger(cost.costNanoUsd)).toBe(true);
      }),
    );
  });

  type Bump = (u: UsageMetadata, by: number) => UsageMetadata;
  const bumpDetail = (modality: string): Bump => (u, by) =>
    u.candidatesTokensDetails
      ? { ...u, candidatesTokensDetails: u.candidatesTokensDetails.map((d) => (d.modality === modality ? { ...d, tokenCount: (d.tokenCount ?? 0) + by } : d)) }
      : u;
  const BUMPS: Record<string, Bump> = {
    promptTokenCount: (u, by) => ({ ...u, promptTokenCount: (u.promptTokenCount ?? 0) + by }),
    candidatesTokenCount: (u, by) => ({ ...u, candidatesTokenCount: (u.candidatesTokenCount ?? 0) + by }),
    thoughtsTokenCount: (u, by) => ({ ...u, thoughtsTokenCount: (u.thoughtsTokenCount ?? 0) + by }),
    toolUsePromptTokenCount: (u, by) => ({ ...u, toolUsePromptTokenCount: (u.toolUsePromptTokenCount ?? 0) + by }),
    imageDetail: bumpDetail('IMAGE'),
    textDetail: bumpDetail('TEXT'),
  };

  it.each(Object.keys(BUMPS))('never falls when %s grows', (field) => {
    const bump = BUMPS[field]!;
    fc.assert(
      fc.property(fc.constantFrom(...MODELS), wellFormedUsage(), fc.integer({ min: 1, max: 5_000 }), fc.nat({ max: 3 }), fc.boolean(), (m, usage, by, imagesReturned, batch) => {
        const before = computeCost({ model: m, atMs: AT, usage, imagesReturned, batch });
        const after = computeCost({ model: m, atMs: AT, usage: bump(usage, by), imagesReturned, batch });
        expect(after.costNanoUsd).toBeGreaterThanOrEqual(before.costNanoUsd);
      }),
    );
  });

  it('never falls when more images came back', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MODELS), wellFormedUsage(), fc.nat({ max: 3 }), fc.integer({ min: 1, max: 3 }), (m, usage, imagesReturned, more) => {
        const before = computeCost({ model: m, atMs: AT, usage, imagesReturned });
        const after = computeCost({ model: m, atMs: AT, usage, imagesReturned: imagesReturned + more });
        expect(after.costNanoUsd).toBeGreaterThanOrEqual(before.costNanoUsd);
      }),
    );
  });

  it('sums records exactly, and the formatted total equals the formatted bigint total', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...MODELS), wellFormedUsage(), fc.boolean()), { maxLength: 200 }), (calls) => {
        const costs = calls.map(([m, usage, batch]) => computeCost({ model: m, atMs: AT, usage, batch, imagesReturned: 1 }).costNanoUsd);
        const total = costs.reduce((a, b) => a + b, 0);
        const bigTotal = costs.reduce((a, b) => a + BigInt(b), 0n);
        expect(Number.isSafeInteger(total)).toBe(true);
        expect(BigInt(total)).toBe(bigTotal);
        expect(formatUsd(total)).toBe(formatUsd(bigTotal));
      }),
    );
  });

  it('formats a bigint total beyond 2^53 as the sum of its parts', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 2n ** 62n }), { minLength: 1, maxLength: 50 }), (parts) => {
        const total = parts.reduce((a, b) => a + b, 0n);
        // Whole USD and micro-USD of the total, computed apart from formatUsd.
        const micro = (total + 500n) / 1000n;
        expect(formatUsd(total)).toBe(`${micro / 1_000_000n}.${(micro % 1_000_000n).toString().padStart(6, '0')}`);
      }),
    );
  });
});

describe('worstCaseCostNanoUsd', () => {
  it('reserves input, one image and a full output allowance of text and thinking per call', () => {
    const worst = worstCaseCostNanoUsd(PRO, { atMs: AT, imageSize: '1K', estimatedInputTokens: 20, calls: 1 });
    // 20 × 2,000 + 1,120 × 120,000 + 32,768 × 12,000: about $0.53 against E1's real $0.134.
    expect(worst).toBe(527_656_000);
  });

  it('scales with the number of calls and halves at batch rates', () => {
    const one = worstCaseCostNanoUsd(FLASH31, { atMs: AT, imageSize: '4K', estimatedInputTokens: 500, calls: 1 });
    expect(worstCaseCostNanoUsd(FLASH31, { atMs: AT, imageSize: '4K', estimatedInputTokens: 500, calls: 4 })).toBe(4 * one);
    expect(worstCaseCostNanoUsd(FLASH31, { atMs: AT, imageSize: '4K', estimatedInputTokens: 500, calls: 1, batch: true }) * 2).toBe(one);
  });

  it('is at least every E1–E12 and L1–L7 cost when given that example’s input as the estimate', () => {
    for (const ex of [...EXAMPLES, ...LINEUP]) {
      const worst = worstCaseCostNanoUsd(ex.input.model, {
        atMs: AT,
        ...(ex.input.imageSize ? { imageSize: ex.input.imageSize } : {}),
        estimatedInputTokens: ex.tokens.inputTokens,
        calls: 1,
        imagesPerCall: ex.input.imagesReturned,
        ...(ex.input.batch ? { batch: true } : {}),
      });
      expect(worst).toBeGreaterThanOrEqual(ex.costNanoUsd);
    }
  });

  it('is never less than the real cost of realistic calls of that size', () => {
    const realistic = fc
      .constantFrom(...MODELS)
      .chain((m) =>
        fc.record({
          model: fc.constant(m),
          imageSize: fc.option(fc.constantFrom<ImageSize>(...(m.imageSizes.length ? m.imageSizes : (['1K'] as const))), { nil: undefined }),
          estimatedInputTokens: fc.nat({ max: m.inputTokenLimit }),
          promptShare: fc.double({ min: 0, max: 1, noNaN: true }),
          imagesPerCall: fc.integer({ min: 1, max: 4 }),
          imagesShare: fc.double({ min: 0, max: 1, noNaN: true }),
          text: fc.nat({ max: m.outputTokenLimit }),
          thoughts: fc.nat({ max: m.outputTokenLimit }),
          withDetails: fc.boolean(),
          batch: fc.boolean(),
          calls: fc.integer({ min: 1, max: 10 }),
        }),
      );
    fc.assert(
      fc.property(realistic, (r) => {
        const perImage = outputTokensForImage(r.model, r.imageSize);
        const images = Math.round(r.imagesShare * r.imagesPerCall);
        // Text and thinking share the output limit, as Google's maxOutputTokens caps both.
        const text = Math.min(r.text, r.model.outputTokenLimit);
        const thoughts = Math.min(r.thoughts, r.model.outputTokenLimit - text);
        const usage: UsageMetadata = {
          promptTokenCount: Math.floor(r.promptShare * r.estimatedInputTokens),
          candidatesTokenCount: images * perImage + text,
          thoughtsTokenCount: thoughts,
          ...(r.withDetails ? { candidatesTokensDetails: [image(images * perImage), { modality: 'TEXT', tokenCount: text }] } : {}),
        };
        const real = computeCost({
          model: r.model,
          atMs: AT,
          usage,
          imagesReturned: images,
          batch: r.batch,
          ...(r.imageSize ? { imageSize: r.imageSize } : {}),
        });
        const worst = worstCaseCostNanoUsd(r.model, {
          atMs: AT,
          ...(r.imageSize ? { imageSize: r.imageSize } : {}),
          estimatedInputTokens: r.estimatedInputTokens,
          calls: r.calls,
          batch: r.batch,
          imagesPerCall: r.imagesPerCall,
        });
        expect(worst).toBeGreaterThanOrEqual(real.costNanoUsd * r.calls);
      }),
    );
  });
});
