import { createHash } from 'node:crypto';
import { MODELS, type ModelFamily } from '../models/catalog.js';

/**
 * Google's paid-tier rates for the image models (reference/pricing.md §1) and the config
 * override that replaces some of them. Rates are keyed by model family, never by id, so an
 * alias or a GA id cannot be priced differently from its preview model.
 */

/** nano-USD (1e-9 USD) per token. */
export interface Rates {
  inputNanoPerToken: number;
  textOutputNanoPerToken: number;
  imageOutputNanoPerToken: number;
}

export interface PriceTable {
  version: string;
  rates: Record<ModelFamily, { standard: Rates; batch: Rates }>;
}

export interface UsdPerMillion {
  input: number;
  textOutput: number;
  imageOutput: number;
}

/**
 * Config `pricing:` section: per model family or canonical model id, USD per 1M tokens, any
 * subset. A batch rate left out while its standard rate is set follows Google's rule that
 * Batch is exactly 50% of Standard (pricing.md §1), so raising 3.1 Flash's standard rates to
 * AI Studio's figures (footnote ¹) moves its batch rates too.
 */
export interface PricingOverride {
  [modelOrFamily: string]: { standard?: Partial<UsdPerMillion>; batch?: Partial<UsdPerMillion> };
}

type Mode = 'standard' | 'batch';
type RateField = keyof UsdPerMillion;

const MODES: readonly Mode[] = ['standard', 'batch'];
const RATE_FIELDS: readonly RateField[] = ['input', 'textOutput', 'imageOutput'];
const RATE_KEY: Readonly<Record<RateField, keyof Rates>> = {
  input: 'inputNanoPerToken',
  textOutput: 'textOutputNanoPerToken',
  imageOutput: 'imageOutputNanoPerToken',
};

/** $1 per 1M tokens is 1,000 nano-USD per token. */
const NANO_PER_TOKEN_PER_USD_PER_MILLION = 1000;
/**
 * Upper bound on a configured rate ($10,000 per 1M tokens, 83x Google's highest). It keeps
 * every per-call cost (a few hundred thousand tokens) far below 2^53, so sums stay exact.
 */
const MAX_NANO_PER_TOKEN = 10_000_000;

function rates(inputNanoPerToken: number, textOutputNanoPerToken: number, imageOutputNanoPerToken: number): Rates {
  return Object.freeze({ inputNanoPerToken, textOutputNanoPerToken, imageOutputNanoPerToken });
}

function freezeTable(version: string, r: PriceTable['rates']): PriceTable {
  for (const family of Object.keys(r) as ModelFamily[]) Object.freeze(r[family]);
  return Object.freeze({ version, rates: Object.freeze(r) });
}

/** pricing.md §1 and the nano-USD rates of §4. Batch lines are written out; a test checks they are exactly half. */
export const BUILTIN_PRICE_TABLE: PriceTable = freezeTable('2026-11-google-paid', {
  'pro-image': { standard: rates(2_000, 12_000, 120_000), batch: rates(1_000, 6_000, 60_000) },
  // Footnote ¹: AI Studio's UI shows twice the input/text rates; the API docs' figures ship.
  'flash-3.1-image': { standard: rates(250, 1_500, 60_000), batch: rates(125, 750, 30_000) },
  'flash-2.5-image': { standard: rates(300, 2_500, 30_000), batch: rates(150, 1_250, 15_000) },
});

const FAMILIES = Object.keys(BUILTIN_PRICE_TABLE.rates) as ModelFamily[];

function familyOf(key: string): ModelFamily | undefined {
  if ((FAMILIES as string[]).includes(key)) return key as ModelFamily;
  return MODELS.find((m) => m.id === key)?.family;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** USD per 1M tokens -> whole nano-USD per token, or an error message. */
function toNanoPerToken(usdPerMillion: unknown): number | string {
  if (typeof usdPerMillion !== 'number' || !Number.isFinite(usdPerMillion)) return 'must be a number of USD per 1M tokens';
  if (usdPerMillion < 0) return 'must not be negative';
  const nano = usdPerMillion * NANO_PER_TOKEN_PER_USD_PER_MILLION;
  const whole = Math.round(nano);
  // Binary floating point: 1.1 * 1000 is 1100.0000000000002, which is a whole nano-USD.
  if (Math.abs(nano - whole) > 1e-6) {
    return `${usdPerMillion} USD per 1M tokens is not a whole number of nano-USD per token (use at most 3 decimal places)`;
  }
  if (whole > MAX_NANO_PER_TOKEN) return `must be at most ${MAX_NANO_PER_TOKEN / NANO_PER_TOKEN_PER_USD_PER_MILLION} USD per 1M tokens`;
  return whole;
}

type NanoOverride = Partial<Record<Mode, Partial<Record<RateField, { nano: number; path: string }>>>>;

/** Validates one `pricing.<key>` entry and turns it into nano-USD per token. */
function parseEntry(key: string, entry: unknown): NanoOverride {
  const path = `pricing.${key}`;
  if (!isRecord(entry)) throw new Error(`${path}: must be an object with standard and/or batch rates`);
  const out: NanoOverride = {};
  for (const [mode, rateSet] of Object.entries(entry)) {
    if (!(MODES as string[]).includes(mode)) throw new Error(`${path}.${mode}: unknown mode; use standard or batch`);
    if (rateSet === undefined) continue;
    if (!isRecord(rateSet)) throw new Error(`${path}.${mode}: must be an object of input, textOutput, imageOutput`);
    const parsed: Partial<Record<RateField, { nano: number; path: string }>> = {};
    for (const [field, value] of Object.entries(rateSet)) {
      const fieldPath = `${path}.${mode}.${field}`;
      if (!(RATE_FIELDS as string[]).includes(field)) throw new Error(`${fieldPath}: unknown rate; use input, textOutput or imageOutput`);
      if (value === undefined) continue;
      const nano = toNanoPerToken(value);
      if (typeof nano === 'string') throw new Error(`${fieldPath}: ${nano}`);
      parsed[field as RateField] = { nano, path: fieldPath };
    }
    out[mode as Mode] = parsed;
  }
  return out;
}

function ratesEqual(a: PriceTable['rates'], b: PriceTable['rates']): boolean {
  return FAMILIES.every((f) =>
    MODES.every((m) => RATE_FIELDS.every((k) => a[f][m][RATE_KEY[k]] === b[f][m][RATE_KEY[k]])),
  );
}

/**
 * The built-in table with `override` applied. Throws an Error whose message starts with the
 * offending config path (`pricing.<key>...`). The version is a function of the resulting rates
 * only (built-in version + '+custom-<hash>'), so two spellings of one override (family or
 * model id) share a version, and an override that changes nothing keeps the built-in one.
 */
export function buildPriceTable(override?: PricingOverride): PriceTable {
  if (override === undefined) return BUILTIN_PRICE_TABLE;
  if (!isRecord(override)) throw new Error('pricing: must be a map from model family or model id to rates');

  const perFamily = new Map<ModelFamily, { key: string; entry: NanoOverride }[]>();
  for (const [key, entry] of Object.entries(override)) {
    const family = familyOf(key);
    if (!family) {
      throw new Error(`pricing.${key}: unknown model family or model id; use one of ${[...FAMILIES, ...MODELS.map((m) => m.id)].join(', ')}`);
    }
    const list = perFamily.get(family) ?? [];
    list.push({ key, entry: parseEntry(key, entry) });
    perFamily.set(family, list);
  }

  const result = {} as PriceTable['rates'];
  for (const family of FAMILIES) {
    const builtin = BUILTIN_PRICE_TABLE.rates[family];
    // Several keys may name one family (its id, its GA id, the family): they must agree.
    const chosen: Partial<Record<Mode, Partial<Record<RateField, { nano: number; path: string }>>>> = {};
    for (const { entry } of perFamily.get(family) ?? []) {
      for (const mode of MODES) {
        for (const field of RATE_FIELDS) {
          const v = entry[mode]?.[field];
          if (!v) continue;
          const prev = chosen[mode]?.[field];
          if (prev && prev.nano !== v.nano) {
            throw new Error(`${v.path}: conflicts with ${prev.path}; both set the ${family} family's rate`);
          }
          chosen[mode] = { ...chosen[mode], [field]: v };
        }
      }
    }
    const standard = { ...builtin.standard };
    const batch = { ...builtin.batch };
    for (const field of RATE_FIELDS) {
      const std = chosen.standard?.[field];
      const bat = chosen.batch?.[field];
      if (std) standard[RATE_KEY[field]] = std.nano;
      if (bat) {
        batch[RATE_KEY[field]] = bat.nano;
      } else if (std) {
        if (std.nano % 2 !== 0) {
          throw new Error(
            `${std.path.slice(0, -`.standard.${field}`.length)}.batch.${field}: half of ${std.path} (${std.nano / 2} nano-USD per token) is not a whole number of nano-USD; set the batch rate explicitly`,
          );
        }
        batch[RATE_KEY[field]] = std.nano / 2;
      }
    }
    result[family] = { standard: Object.freeze(standard), batch: Object.freeze(batch) };
  }

  if (ratesEqual(result, BUILTIN_PRICE_TABLE.rates)) return BUILTIN_PRICE_TABLE;
  const canonical = JSON.stringify(
    FAMILIES.map((f) => [f, MODES.map((m) => RATE_FIELDS.map((k) => result[f][m][RATE_KEY[k]]))]),
  );
  const hash = createHash('sha256').update(canonical).digest('hex').slice(0, 8);
  return freezeTable(`${BUILTIN_PRICE_TABLE.version}+custom-${hash}`, result);
}
