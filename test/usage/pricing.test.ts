import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODELS, outputTokensForImage, type ImageSize, type ModelFamily, type ModelSpec } from '../../src/models/catalog.js';
import type { ModalityTokenCount, UsageMetadata } from '../../src/gemini/types.js';
import {
  BUILTIN_PRICE_TABLE,
  buildPriceTable,
  computeCost,
  formatUsd,
  nanoToMicroUsd,
  worstCaseCostNanoUsd,
  type CostInput,
  type PricingOverride,
} from '../../src/usage/pricing.js';

function model(id: string): ModelSpec {
  const m = MODELS.find((x) => x.id === id);
  if (!m) throw new Error(`no model ${id} in the catalog`);
  return m;
}

const PRO = model('gemini-3-pro-image-preview');
const FLASH31 = model('gemini-3.1-flash-image-preview');
const FLASH25 = model('gemini-2.5-flash-image');

const text = (tokenCount: number): ModalityTokenCount => ({ modality: 'TEXT', tokenCount });
const image = (tokenCount: number): ModalityTokenCount => ({ modality: 'IMAGE', tokenCount });

interface Example {
  name: string;
  input: CostInput;
  costNanoUsd: number;
  usd: string;
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
    input: { model: PRO, usage: E1_USAGE, imagesReturned: 1, imageSize: '1K' },
    costNanoUsd: 134_440_000,
    usd: '0.134440',
    tokens: { inputTokens: 20, outputImageTokens: 1120, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'E2 Pro, standard, 2K with thinking',
    input: {
      model: PRO,
      usage: { promptTokenCount: 45, promptTokensDetails: [text(45)], candidatesTokenCount: 1130, candidatesTokensDetails: [image(1120), text(10)], thoughtsTokenCount: 220 },
      imagesReturned: 1,
      imageSize: '2K',
    },
    costNanoUsd: 137_250_000,
    usd: '0.137250',
    tokens: { inputTokens: 45, outputImageTokens: 1120, outputTextTokens: 10, thinkingTokens: 220 },
  },
  {
    name: 'E3 Pro, standard, 4K with 3 reference images',
    input: {
      model: PRO,
      usage: { promptTokenCount: 1740, promptTokensDetails: [text(60), image(1680)], candidatesTokenCount: 2000, candidatesTokensDetails: [image(2000)], thoughtsTokenCount: 300 },
      imagesReturned: 1,
      imageSize: '4K',
    },
    costNanoUsd: 247_080_000,
    usd: '0.247080',
    tokens: { inputTokens: 1740, outputImageTokens: 2000, outputTextTokens: 0, thinkingTokens: 300 },
  },
  {
    name: 'E4 Pro, batch, 1K',
    input: { model: PRO, batch: true, usage: E1_USAGE, imagesReturned: 1, imageSize: '1K' },
    costNanoUsd: 67_220_000,
    usd: '0.067220',
    tokens: { inputTokens: 20, outputImageTokens: 1120, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'E5 3.1 Flash, standard, 512 (rounds half-up)',
    input: {
      model: FLASH31,
      usage: { promptTokenCount: 31, promptTokensDetails: [text(31)], candidatesTokenCount: 747, candidatesTokensDetails: [image(747)], thoughtsTokenCount: 0 },
      imagesReturned: 1,
      imageSize: '512',
    },
    costNanoUsd: 44_827_750,
    usd: '0.044828',
    tokens: { inputTokens: 31, outputImageTokens: 747, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'E6 3.1 Flash, standard, 2K with thinking',
    input: {
      model: FLASH31,
      usage: { promptTokenCount: 50, promptTokensDetails: [text(50)], candidatesTokenCount: 1705, candidatesTokensDetails: [image(1680), text(25)], thoughtsTokenCount: 400 },
      imagesReturned: 1,
      imageSize: '2K',
    },
    costNanoUsd: 101_450_000,
    usd: '0.101450',
    tokens: { inputTokens: 50, outputImageTokens: 1680, outputTextTokens: 25, thinkingTokens: 400 },
  },
  {
    name: 'E7 3.1 Flash, batch, 4K with 3 reference images',
    input: {
      model: FLASH31,
      batch: true,
      usage: { promptTokenCount: 3400, promptTokensDetails: [text(40), image(3360)], candidatesTokenCount: 2520, candidatesTokensDetails: [image(2520)] },
      imagesReturned: 1,
      imageSize: '4K',
    },
    costNanoUsd: 76_025_000,
    usd: '0.076025',
    tokens: { inputTokens: 3400, outputImageTokens: 2520, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'E8 2.5 Flash Image, standard',
    input: {
      model: FLASH25,
      usage: { promptTokenCount: 12, promptTokensDetails: [text(12)], candidatesTokenCount: 1290, candidatesTokensDetails: [image(1290)] },
      imagesReturned: 1,
    },
    costNanoUsd: 38_703_600,
    usd: '0.038704',
    tokens: { inputTokens: 12, outputImageTokens: 1290, outputTextTokens: 0, thinkingTokens: 0 },
  },
  {
    name: 'E9 2.5 Flash Image, batch, 3 small reference images',
    input: {
      model: FLASH25,
      batch: true,
      usage: { promptTokenCount: 799, promptTokensDetails: [text(25), image(774)], candidatesTokenCount: 1308, candidatesTokensDetails: [image(1290), text(18)] },
      imagesReturned: 1,
    },
    costNanoUsd: 19_492_350,
    usd: '0.019492',
    tokens: { inputTokens: 799, outputImageTokens: 1290, outputTextTokens: 18, thinkingTokens: 0 },
  },
  {
    name: 'E10 Pro, standard, no image came back',
    input: { model: PRO, usage: { promptTokenCount: 35, promptTokensDetails: [text(35)], thoughtsTokenCount: 180 }, imagesReturned: 0, imageSize: '1K' },
    costNanoUsd: 2_230_000,
    usd: '0.002230',
    tokens: { inputTokens: 35, outputImageTokens: 0, outputTextTokens: 0, thinkingTokens: 180 },
  },
  {
    name: 'E11 3.1 Flash, standard, two 1K images in one candidate',
    input: {
      model: FLASH31,
      usage: { promptTokenCount: 28, promptTokensDetails: [text(28)], candidatesTokenCount: 2280, candidatesTokensDetails: [image(2240), text(40)] },
      imagesReturned: 2,
      imageSize: '1K',
    },
    costNanoUsd: 134_467_000,
    usd: '0.134467',
    tokens: { inputTokens: 28, outputImageTokens: 2240, outputTextTokens: 40, thinkingTokens: 0 },
  },
  {
    name: 'E12 Pro, standard, details missing, one 2K image part',
    input: { model: PRO, usage: { promptTokenCount: 600, candidatesTokenCount: 1130, thoughtsTokenCount: 90 }, imagesReturned: 1, imageSize: '2K' },
    costNanoUsd: 136_800_000,
    usd: '0.136800',
    tokens: { inputTokens: 600, outputImageTokens: 1120, outputTextTokens: 10, thinkingTokens: 90 },
  },
];

describe('computeCost on the worked examples of pricing.md §4', () => {
  it.each(EXAMPLES)('$name costs $costNanoUsd nano-USD, shown as $usd', (ex) => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, ex.input);
    expect(cost).toEqual({ ...ex.tokens, costNanoUsd: ex.costNanoUsd, estimated: false, priceVersion: '2026-11-google-paid' });
    expect(formatUsd(cost.costNanoUsd)).toBe(ex.usd);
  });
});

describe('the built-in price table', () => {
  const families = Object.keys(BUILTIN_PRICE_TABLE.rates) as ModelFamily[];

  it('prices every model family of the catalog', () => {
    expect(new Set(families)).toEqual(new Set(MODELS.map((m) => m.family)));
  });

  it.each(families)('charges %s exactly half the standard rates in batch', (family) => {
    const { standard, batch } = BUILTIN_PRICE_TABLE.rates[family];
    expect(batch.inputNanoPerToken * 2).toBe(standard.inputNanoPerToken);
    expect(batch.textOutputNanoPerToken * 2).toBe(standard.textOutputNanoPerToken);
    expect(batch.imageOutputNanoPerToken * 2).toBe(standard.imageOutputNanoPerToken);
  });

  it('holds whole nano-USD rates only', () => {
    for (const family of families) {
      for (const r of [BUILTIN_PRICE_TABLE.rates[family].standard, BUILTIN_PRICE_TABLE.rates[family].batch]) {
        for (const v of Object.values(r)) expect(Number.isSafeInteger(v)).toBe(true);
      }
    }
  });

  it.each([
    ['gemini-3-pro-image', 'gemini-3-pro-image-preview'],
    ['gemini-3.1-flash-image', 'gemini-3.1-flash-image-preview'],
  ])('prices the GA id %s exactly like %s', (gaId, previewId) => {
    fc.assert(
      fc.property(wellFormedUsage(), fc.boolean(), fc.nat({ max: 3 }), (usage, batch, imagesReturned) => {
        const ga = computeCost(BUILTIN_PRICE_TABLE, { model: model(gaId), usage, batch, imagesReturned });
        const preview = computeCost(BUILTIN_PRICE_TABLE, { model: model(previewId), usage, batch, imagesReturned });
        expect(ga).toEqual(preview);
      }),
    );
  });

  it('bills a batch call exactly half of the same call at standard rates', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MODELS), wellFormedUsage(), fc.nat({ max: 3 }), (m, usage, imagesReturned) => {
        const standard = computeCost(BUILTIN_PRICE_TABLE, { model: m, usage, imagesReturned });
        const batch = computeCost(BUILTIN_PRICE_TABLE, { model: m, usage, imagesReturned, batch: true });
        expect(batch.costNanoUsd * 2).toBe(standard.costNanoUsd);
      }),
    );
  });
});

describe('computeCost when usageMetadata is incomplete', () => {
  it('falls back to the estimate and flags it when there is no usage at all', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, { model: PRO, usage: undefined, imagesReturned: 0, estimatedInputTokens: 100 });
    expect(cost).toMatchObject({ inputTokens: 100, costNanoUsd: 100 * 2_000, estimated: true });
  });

  it('bills nothing and estimates nothing without usage or estimate (a failed call)', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, { model: PRO, usage: undefined, imagesReturned: 0, imageSize: '4K' });
    expect(cost).toMatchObject({ costNanoUsd: 0, inputTokens: 0, outputImageTokens: 0, estimated: false });
  });

  it('sums promptTokensDetails when promptTokenCount is missing, without flagging an estimate', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, {
      model: PRO,
      usage: { promptTokensDetails: [text(60), image(1680)], candidatesTokensDetails: [image(2000)] },
      imagesReturned: 1,
      estimatedInputTokens: 5,
    });
    expect(cost).toMatchObject({ inputTokens: 1740, estimated: false, costNanoUsd: 1740 * 2_000 + 2000 * 120_000 });
  });

  it('prefers reported prompt counts over the estimate', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, { model: FLASH31, usage: { promptTokenCount: 31 }, imagesReturned: 0, estimatedInputTokens: 9999 });
    expect(cost).toMatchObject({ inputTokens: 31, estimated: false });
  });

  it('bills an image part at the requested size when no details and no candidates count came back', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, { model: FLASH31, usage: { promptTokenCount: 10 }, imagesReturned: 2, imageSize: '2K' });
    expect(cost).toMatchObject({ outputImageTokens: 2 * 1680, outputTextTokens: 0, costNanoUsd: 10 * 250 + 3360 * 60_000 });
  });

  it("uses the model's default size when the request named none", () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, { model: PRO, usage: { promptTokenCount: 10 }, imagesReturned: 1 });
    expect(cost.outputImageTokens).toBe(outputTokensForImage(PRO, PRO.defaultImageSize));
  });

  it('trusts a reported candidates total that is smaller than the per-image constant', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, {
      model: FLASH31,
      usage: { promptTokenCount: 10, candidatesTokenCount: 1200 },
      imagesReturned: 1,
      imageSize: '2K',
    });
    expect(cost).toMatchObject({ outputImageTokens: 1200, outputTextTokens: 0 });
  });

  it('treats an empty candidatesTokensDetails like a missing one', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, {
      model: PRO,
      usage: { promptTokenCount: 600, candidatesTokenCount: 1130, candidatesTokensDetails: [], thoughtsTokenCount: 90 },
      imagesReturned: 1,
      imageSize: '2K',
    });
    expect(cost.costNanoUsd).toBe(136_800_000);
  });

  it('never invents output when no image came back and nothing was counted', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, { model: PRO, usage: { promptTokenCount: 35 }, imagesReturned: 0, imageSize: '4K' });
    expect(cost).toMatchObject({ outputImageTokens: 0, outputTextTokens: 0, costNanoUsd: 70_000 });
  });

  it('bills unknown output modalities and unexplained candidate tokens as text', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, {
      model: PRO,
      usage: { promptTokenCount: 0, candidatesTokenCount: 1150, candidatesTokensDetails: [image(1120), { modality: 'AUDIO', tokenCount: 7 }, text(3)] },
      imagesReturned: 1,
    });
    expect(cost).toMatchObject({ outputImageTokens: 1120, outputTextTokens: 30 });
  });

  it('never bills less than the listed details when the candidates total is missing', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, {
      model: FLASH31,
      usage: { candidatesTokensDetails: [image(1120), { modality: 'AUDIO', tokenCount: 5 }] },
      imagesReturned: 1,
    });
    expect(cost).toMatchObject({ outputImageTokens: 1120, outputTextTokens: 5 });
  });

  it('bills tool-use prompt tokens at the input rate', () => {
    const cost = computeCost(BUILTIN_PRICE_TABLE, { model: PRO, usage: { promptTokenCount: 20, toolUsePromptTokenCount: 300 }, imagesReturned: 0 });
    expect(cost).toMatchObject({ inputTokens: 320, costNanoUsd: 320 * 2_000 });
  });

  it.each<[string, UsageMetadata]>([
    ['a negative count', { promptTokenCount: -5, promptTokensDetails: [text(7)] }],
    ['NaN', { promptTokenCount: Number.NaN, promptTokensDetails: [text(7)] }],
    ['a string', { promptTokenCount: '12' as unknown as number, promptTokensDetails: [text(7)] }],
  ])('ignores %s and falls back to the next source', (_label, usage) => {
    expect(computeCost(BUILTIN_PRICE_TABLE, { model: PRO, usage, imagesReturned: 0 }).inputTokens).toBe(7);
  });

  it('rounds a fractional count up rather than bill less', () => {
    expect(computeCost(BUILTIN_PRICE_TABLE, { model: PRO, usage: { thoughtsTokenCount: 10.2 }, imagesReturned: 0 }).thinkingTokens).toBe(11);
  });
});

describe('buildPriceTable with a config override', () => {
  it('returns the built-in table without an override', () => {
    expect(buildPriceTable()).toBe(BUILTIN_PRICE_TABLE);
    expect(buildPriceTable({})).toBe(BUILTIN_PRICE_TABLE);
  });

  it('replaces the named standard rates, halves them for batch, and leaves the rest alone', () => {
    const table = buildPriceTable({ 'gemini-3.1-flash-image-preview': { standard: { input: 0.5, textOutput: 3 } } });
    expect(table.rates['flash-3.1-image']).toEqual({
      standard: { inputNanoPerToken: 500, textOutputNanoPerToken: 3_000, imageOutputNanoPerToken: 60_000 },
      batch: { inputNanoPerToken: 250, textOutputNanoPerToken: 1_500, imageOutputNanoPerToken: 30_000 },
    });
    expect(table.rates['pro-image']).toEqual(BUILTIN_PRICE_TABLE.rates['pro-image']);
    expect(table.rates['flash-2.5-image']).toEqual(BUILTIN_PRICE_TABLE.rates['flash-2.5-image']);
    expect(table.version).toMatch(/^2026-11-google-paid\+custom-[0-9a-f]{8}$/);
  });

  it('prices the GA id and the preview id alike after overriding either one', () => {
    const table = buildPriceTable({ 'gemini-3.1-flash-image': { standard: { input: 0.5 } } });
    const e5 = EXAMPLES[4]!;
    const viaPreview = computeCost(table, e5.input);
    const viaGa = computeCost(table, { ...e5.input, model: model('gemini-3.1-flash-image') });
    expect(viaPreview.costNanoUsd).toBe(31 * 500 + 747 * 60_000);
    expect(viaGa).toEqual(viaPreview);
    expect(viaPreview.priceVersion).toBe(table.version);
  });

  it('uses an explicit batch rate as given', () => {
    const table = buildPriceTable({ 'pro-image': { batch: { imageOutput: 50 } } });
    expect(table.rates['pro-image'].batch.imageOutputNanoPerToken).toBe(50_000);
    expect(table.rates['pro-image'].standard).toEqual(BUILTIN_PRICE_TABLE.rates['pro-image'].standard);
  });

  it('accepts rates with up to 3 decimal places despite binary floating point', () => {
    const table = buildPriceTable({ 'flash-2.5-image': { standard: { input: 1.1 }, batch: { input: 0.125 } } });
    expect(table.rates['flash-2.5-image'].standard.inputNanoPerToken).toBe(1_100);
    expect(table.rates['flash-2.5-image'].batch.inputNanoPerToken).toBe(125);
  });

  it('gives one version to two spellings of the same override and another to different rates', () => {
    const byFamily = buildPriceTable({ 'pro-image': { standard: { input: 3 } } });
    const byId = buildPriceTable({ 'gemini-3-pro-image-preview': { standard: { input: 3 } } });
    const other = buildPriceTable({ 'pro-image': { standard: { input: 4 } } });
    expect(byId.version).toBe(byFamily.version);
    expect(other.version).not.toBe(byFamily.version);
  });

  it('keeps the built-in version when the override restates the built-in rates', () => {
    expect(buildPriceTable({ 'pro-image': { standard: { input: 2, imageOutput: 120 } } }).version).toBe(BUILTIN_PRICE_TABLE.version);
  });

  it.each<[string, unknown, RegExp]>([
    ['an unknown model', { 'gemini-9-image': { standard: { input: 1 } } }, /^pricing\.gemini-9-image: unknown model family or model id/],
    ['an alias instead of a model id', { 'nano-banana-pro': { standard: { input: 1 } } }, /^pricing\.nano-banana-pro: unknown model family or model id; use one of .*gemini-3-pro-image-preview/],
    ['a negative rate', { 'pro-image': { standard: { input: -1 } } }, /^pricing\.pro-image\.standard\.input: must not be negative/],
    ['a fraction of a nano-USD', { 'pro-image': { batch: { textOutput: 0.0005 } } }, /^pricing\.pro-image\.batch\.textOutput: .*not a whole number of nano-USD per token/],
    ['a rate that is not a number', { 'pro-image': { standard: { input: '2' } } }, /^pricing\.pro-image\.standard\.input: must be a number/],
    ['an infinite rate', { 'pro-image': { standard: { input: Number.POSITIVE_INFINITY } } }, /^pricing\.pro-image\.standard\.input: must be a number/],
    ['an absurd rate', { 'pro-image': { standard: { input: 20_000 } } }, /^pricing\.pro-image\.standard\.input: must be at most/],
    ['an unknown rate name', { 'pro-image': { standard: { output: 1 } } }, /^pricing\.pro-image\.standard\.output: unknown rate/],
    ['an unknown mode', { 'pro-image': { flex: { input: 1 } } }, /^pricing\.pro-image\.flex: unknown mode/],
    ['a standard rate whose half is not whole', { 'flash-3.1-image': { standard: { input: 0.001 } } }, /^pricing\.flash-3\.1-image\.batch\.input: half of pricing\.flash-3\.1-image\.standard\.input/],
    [
      'two keys disagreeing on one family',
      { 'pro-image': { standard: { input: 3 } }, 'gemini-3-pro-image': { standard: { input: 4 } } },
      /^pricing\.gemini-3-pro-image\.standard\.input: conflicts with pricing\.pro-image\.standard\.input/,
    ],
  ])('refuses %s, naming the key', (_label, override, message) => {
    expect(() => buildPriceTable(override as PricingOverride)).toThrow(message);
  });

  it('accepts two keys agreeing on one family', () => {
    const table = buildPriceTable({ 'pro-image': { standard: { input: 3 } }, 'gemini-3-pro-image': { standard: { input: 3 } } });
    expect(table.rates['pro-image'].standard.inputNanoPerToken).toBe(3_000);
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
        const cost = computeCost(BUILTIN_PRICE_TABLE, { model: m, usage: usage as UsageMetadata | undefined, imagesReturned: imagesReturned ?? 0, batch });
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
        const before = computeCost(BUILTIN_PRICE_TABLE, { model: m, usage, imagesReturned, batch });
        const after = computeCost(BUILTIN_PRICE_TABLE, { model: m, usage: bump(usage, by), imagesReturned, batch });
        expect(after.costNanoUsd).toBeGreaterThanOrEqual(before.costNanoUsd);
      }),
    );
  });

  it('never falls when more images came back', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MODELS), wellFormedUsage(), fc.nat({ max: 3 }), fc.integer({ min: 1, max: 3 }), (m, usage, imagesReturned, more) => {
        const before = computeCost(BUILTIN_PRICE_TABLE, { model: m, usage, imagesReturned });
        const after = computeCost(BUILTIN_PRICE_TABLE, { model: m, usage, imagesReturned: imagesReturned + more });
        expect(after.costNanoUsd).toBeGreaterThanOrEqual(before.costNanoUsd);
      }),
    );
  });

  it('sums records exactly, and the formatted total equals the formatted bigint total', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...MODELS), wellFormedUsage(), fc.boolean()), { maxLength: 200 }), (calls) => {
        const costs = calls.map(([m, usage, batch]) => computeCost(BUILTIN_PRICE_TABLE, { model: m, usage, batch, imagesReturned: 1 }).costNanoUsd);
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
    const worst = worstCaseCostNanoUsd(BUILTIN_PRICE_TABLE, PRO, { imageSize: '1K', estimatedInputTokens: 20, calls: 1 });
    // 20 × 2,000 + 1,120 × 120,000 + 32,768 × 12,000: about $0.53 against E1's real $0.134.
    expect(worst).toBe(527_656_000);
  });

  it('scales with the number of calls and halves at batch rates', () => {
    const one = worstCaseCostNanoUsd(BUILTIN_PRICE_TABLE, FLASH31, { imageSize: '4K', estimatedInputTokens: 500, calls: 1 });
    expect(worstCaseCostNanoUsd(BUILTIN_PRICE_TABLE, FLASH31, { imageSize: '4K', estimatedInputTokens: 500, calls: 4 })).toBe(4 * one);
    expect(worstCaseCostNanoUsd(BUILTIN_PRICE_TABLE, FLASH31, { imageSize: '4K', estimatedInputTokens: 500, calls: 1, batch: true }) * 2).toBe(one);
  });

  it('is at least every E1–E12 cost when given that example’s input as the estimate', () => {
    for (const ex of EXAMPLES) {
      const worst = worstCaseCostNanoUsd(BUILTIN_PRICE_TABLE, ex.input.model, {
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
        const real = computeCost(BUILTIN_PRICE_TABLE, {
          model: r.model,
          usage,
          imagesReturned: images,
          batch: r.batch,
          ...(r.imageSize ? { imageSize: r.imageSize } : {}),
        });
        const worst = worstCaseCostNanoUsd(BUILTIN_PRICE_TABLE, r.model, {
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
