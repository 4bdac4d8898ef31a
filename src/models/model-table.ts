/**
 * Loads the model table: the shipped config/models.yaml, with the operator's
 * `models.override` entries merged over it (a field of an existing model, or a whole new
 * model). Validated strictly; a bad entry fails with its field path, as the config does.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { IMAGE_SIZES, TIERS, type ImageSize, type ModelSpec, type PriceRow, type Rates, type Tier } from './catalog.js';

/**
 * The shipped table, beside the shipped config (the Docker image copies both): the package's
 * `config/models.yaml`, found above this module wherever it was compiled to (dist/, the
 * benchmark's dist-bench/src/, or src/ itself under the test runner).
 */
export const SHIPPED_MODEL_TABLE = findShippedTable();

function findShippedTable(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++) {
    const candidate = join(dir, 'config', 'models.yaml');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return fileURLToPath(new URL('../../config/models.yaml', import.meta.url));
}

export class ModelTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelTableError';
  }
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const count = z.int({ error: 'must be a whole number' }).nonnegative({ error: 'must not be negative' });
const positive = z.int({ error: 'must be a whole number' }).positive({ error: 'must be positive' });
const date = z.string({ error: 'must be a date (YYYY-MM-DD)' }).regex(DATE, { error: 'must be a date (YYYY-MM-DD)' });
/** A date (00:00 UTC) or an ISO instant. */
const instant = z.string({ error: 'must be a date or an ISO instant' }).refine((s) => DATE.test(s) || !Number.isNaN(Date.parse(s)), {
  error: 'must be a date (YYYY-MM-DD) or an ISO instant',
});
const imageSize = z.enum(IMAGE_SIZES as [ImageSize, ...ImageSize[]], { error: `must be one of ${IMAGE_SIZES.join(', ')}` });
const usdPerMillion = z
  .number({ error: 'must be a number of USD per 1M tokens' })
  .nonnegative({ error: 'must not be negative' })
  .max(10_000, { error: 'must be at most 10000 USD per 1M tokens' })
  .refine((v) => Math.abs(v * 1000 - Math.round(v * 1000)) < 1e-6, { error: 'must have at most 3 decimal places (whole nano-USD per token)' });
const rates = z.strictObject({ input: usdPerMillion, textOutput: usdPerMillion, imageOutput: usdPerMillion });
const limits = z.strictObject({ rpm: count.optional(), tpm: count.optional(), rpd: count.optional(), ipm: count.optional(), batchTokens: count.optional() });

const entrySchema = z.strictObject({
  like: z.string().optional(),
  displayName: z.string().min(1),
  description: z.string(),
  version: z.string().min(1),
  aliases: z.array(z.string().min(1).regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, { error: 'must be letters, digits, ".", "_", "/" or "-"' })),
  lifecycle: z.strictObject({
    stage: z.enum(['preview', 'ga', 'deprecated'], { error: 'must be preview, ga or deprecated' }),
    released: date,
    deprecated: instant.optional(),
    shutdown: instant.optional(),
    replacement: z.string().min(1).optional(),
  }),
  imageSizes: z.array(imageSize),
  defaultImageSize: imageSize,
  aspectRatios: z.array(z.string().regex(/^\d+:\d+$/, { error: 'must be W:H' })).min(1),
  pixels: z.enum(['standard', 'flash25'], { error: 'must be standard or flash25' }),
  tokensPerImage: z.partialRecord(imageSize, positive),
  inputTokensPerImage: count,
  maxReferenceImages: count,
  inputTokenLimit: positive,
  outputTokenLimit: positive,
  thinking: z.boolean(),
  batch: z.boolean(),
  textAllowanceTokens: count,
  prices: z.array(z.strictObject({ from: date, standard: rates, batch: rates })).min(1, { error: 'must have at least one price row' }),
  /** Vertex AI's prices where they differ (#17.3), rows as in prices; absent: Vertex calls are priced at prices. */
  vertexPrices: z.array(z.strictObject({ from: date, standard: rates, batch: rates })).min(1, { error: 'must have at least one price row (or leave vertexPrices out)' }).optional(),
  limits: z.strictObject(Object.fromEntries(TIERS.map((t) => [t, limits])) as Record<Tier, typeof limits>),
});

type Entry = z.infer<typeof entrySchema>;
type RawEntry = Record<string, unknown>;

function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `.${String(seg)}`;
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge field by field (lifecycle, limits per tier); arrays and values replace. */
function merge(base: unknown, over: unknown): unknown {
  if (!isRecord(base) || !isRecord(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? merge(base[k], v) : v;
  return out;
}

function instantMs(s: string): number {
  return DATE.test(s) ? Date.parse(`${s}T00:00:00Z`) : Date.parse(s);
}

const NANO_PER_USD_PER_MILLION = 1000;
function toRates(r: Entry['prices'][number]['standard']): Rates {
  return Object.freeze({
    inputNanoPerToken: Math.round(r.input * NANO_PER_USD_PER_MILLION),
    textOutputNanoPerToken: Math.round(r.textOutput * NANO_PER_USD_PER_MILLION),
    imageOutputNanoPerToken: Math.round(r.imageOutput * NANO_PER_USD_PER_MILLION),
  });
}

function priceRows(id: string, rows: Entry['prices'], path: string, field: 'prices' | 'vertexPrices' = 'prices'): PriceRow[] {
  // A Vertex AI row's version says so: a usage record shows which list priced it.
  const list = field === 'vertexPrices' ? 'vertex:' : '';
  const out = rows.map((row) => {
    const standard = toRates(row.standard);
    const batch = toRates(row.batch);
    const hash = createHash('sha256').update(JSON.stringify([standard, batch])).digest('hex').slice(0, 8);
    return { from: row.from, fromMs: instantMs(row.from), version: `${id}@${list}${row.from}#${hash}`, standard, batch };
  });
  out.forEach((row, i) => {
    if (i > 0 && row.fromMs <= out[i - 1]!.fromMs) throw new ModelTableError(`${path}.${field}[${i}].from: rows must be in date order, each later than the one before`);
  });
  return out.map((r) => Object.freeze(r));
}

function toSpec(id: string, e: Entry, path: string): ModelSpec {
  if (e.imageSizes.length > 0 && !e.imageSizes.includes(e.defaultImageSize)) {
    throw new ModelTableError(`${path}.defaultImageSize: ${e.defaultImageSize} is not one of its imageSizes (${e.imageSizes.join(', ')})`);
  }
  for (const size of [e.defaultImageSize, ...e.imageSizes]) {
    if (e.tokensPerImage[size] === undefined) throw new ModelTableError(`${path}.tokensPerImage.${size}: missing: every size it makes needs its tokens per image`);
  }
  const l = e.lifecycle;
  return Object.freeze({
    id,
    displayName: e.displayName,
    description: e.description,
    version: e.version,
    aliases: Object.freeze(e.aliases.map((a) => a.toLowerCase())),
    lifecycle: Object.freeze({
      stage: l.stage,
      released: l.released,
      ...(l.deprecated !== undefined ? { deprecatedAtMs: instantMs(l.deprecated) } : {}),
      ...(l.shutdown !== undefined ? { shutdownAtMs: instantMs(l.shutdown) } : {}),
      ...(l.replacement !== undefined ? { replacement: l.replacement } : {}),
    }),
    aspectRatios: Object.freeze([...e.aspectRatios]),
    imageSizes: Object.freeze([...e.imageSizes]),
    defaultImageSize: e.defaultImageSize,
    pixels: e.pixels,
    outputTokensPerImage: Object.freeze({ ...e.tokensPerImage }),
    inputTokensPerImage: e.inputTokensPerImage,
    maxReferenceImages: e.maxReferenceImages,
    inputTokenLimit: e.inputTokenLimit,
    outputTokenLimit: e.outputTokenLimit,
    thinking: e.thinking,
    batch: e.batch,
    textAllowanceTokens: e.textAllowanceTokens,
    prices: Object.freeze(priceRows(id, e.prices, path)),
    ...(e.vertexPrices ? { vertexPrices: Object.freeze(priceRows(id, e.vertexPrices, path, 'vertexPrices')) } : {}),
    // batchTokens is Google's Batch API limit, not a quota dimension: kept apart (#16).
    limits: Object.freeze(
      Object.fromEntries(TIERS.map((t) => [t, Object.freeze(Object.fromEntries(Object.entries(e.limits[t]).filter(([k]) => k !== 'batchTokens')))])) as Record<Tier, Readonly<Entry['limits'][Tier]>>,
    ),
    batchTokens: Object.freeze(Object.fromEntries(TIERS.map((t) => [t, e.limits[t].batchTokens]))) as Record<Tier, number | undefined>,
  });
}

/** `like: other` takes every field not given from the other entry (after its own `like`). */
function resolveLike(raw: Readonly<Record<string, RawEntry>>, prefixOf: (id: string) => string): Record<string, RawEntry> {
  const done = new Map<string, RawEntry>();
  const visit = (id: string, trail: string[]): RawEntry => {
    const got = done.get(id);
    if (got) return got;
    const entry = raw[id]!;
    const like = entry['like'];
    let resolved: RawEntry = entry;
    if (like !== undefined) {
      if (typeof like !== 'string' || !(like in raw)) throw new ModelTableError(`${prefixOf(id)}.like: unknown model ${String(like)}`);
      if (trail.includes(like)) throw new ModelTableError(`${prefixOf(id)}.like: a cycle (${[...trail, like].join(' -> ')})`);
      const base = { ...visit(like, [...trail, like]) };
      delete base['like'];
      // Aliases are a model's own: never inherited, or two models would claim one name.
      base['aliases'] = [];
      resolved = merge(base, entry) as RawEntry;
    }
    done.set(id, resolved);
    return resolved;
  };
  for (const id of Object.keys(raw)) visit(id, [id]);
  return Object.fromEntries(done);
}

export interface ModelTable {
  /** Every model, retired ones included, in table order. */
  readonly models: readonly ModelSpec[];
  readonly byId: ReadonlyMap<string, ModelSpec>;
}

let shippedCache: { path: string; raw: Record<string, RawEntry> } | undefined;

function readShipped(path: string): Record<string, RawEntry> {
  if (shippedCache?.path === path) return shippedCache.raw;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ModelTableError(`${path}: cannot read the model table (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) throw new ModelTableError(`${path}: invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const js: unknown = doc.toJS();
  if (!isRecord(js) || !isRecord(js['models'])) throw new ModelTableError(`${path}: must have a models: map`);
  const raw = js['models'] as Record<string, RawEntry>;
  shippedCache = { path, raw };
  return raw;
}

/**
 * The table: the shipped file (or `path`) with `override` merged over it. Throws
 * ModelTableError whose message starts with the field path: `models.override.<id>.…` for the
 * operator's entries, `<file>: <id>.…` for the shipped ones.
 */
export function loadModelTable(override: Readonly<Record<string, unknown>> = {}, path: string = SHIPPED_MODEL_TABLE): ModelTable {
  const shipped = readShipped(path);
  const raw: Record<string, RawEntry> = {};
  const fromOverride = new Set<string>();
  for (const [id, entry] of Object.entries(shipped)) {
    if (!isRecord(entry)) throw new ModelTableError(`${path}: ${id}: must be a map of fields`);
    raw[id] = entry;
  }
  for (const [id, entry] of Object.entries(override)) {
    if (!isRecord(entry)) throw new ModelTableError(`models.override.${id}: must be a map of fields`);
    fromOverride.add(id);
    raw[id] = id in raw ? (merge(raw[id], entry) as RawEntry) : entry;
  }
  const prefixOf = (id: string) => (fromOverride.has(id) ? `models.override.${id}` : `${path}: ${id}`);
  for (const id of Object.keys(raw)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) throw new ModelTableError(`${prefixOf(id)}: a model id must be letters, digits, ".", "_" or "-"`);
  }
  const resolved = resolveLike(raw, prefixOf);

  const models: ModelSpec[] = [];
  for (const [id, entry] of Object.entries(resolved)) {
    const parsed = entrySchema.safeParse(entry);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.code === 'unrecognized_keys' ? formatPath(prefixOf(id), [...issue.path, issue.keys[0]!]) : formatPath(prefixOf(id), issue.path);
      throw new ModelTableError(`${where}: ${issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message}`);
    }
    models.push(toSpec(id, parsed.data, prefixOf(id)));
  }
  const byId = new Map(models.map((m) => [m.id, m]));

  // Replacements name models of the table, and following them never comes back round.
  for (const m of models) {
    const seen = [m.id];
    let next = m.lifecycle.replacement;
    while (next !== undefined) {
      const target = byId.get(next);
      if (!target) throw new ModelTableError(`${prefixOf(seen.at(-1)!)}.lifecycle.replacement: unknown model ${next}`);
      if (seen.includes(next)) throw new ModelTableError(`${prefixOf(m.id)}.lifecycle.replacement: a cycle (${[...seen, next].join(' -> ')})`);
      seen.push(next);
      next = target.lifecycle.replacement;
    }
  }
  // One name, one model.
  const owner = new Map<string, string>();
  for (const m of models) {
    for (const alias of m.aliases) {
      if (byId.has(alias)) throw new ModelTableError(`${prefixOf(m.id)}.aliases: ${alias} is a model id`);
      const prev = owner.get(alias);
      if (prev && prev !== m.id) throw new ModelTableError(`${prefixOf(m.id)}.aliases: ${alias} is already an alias of ${prev}`);
      owner.set(alias, m.id);
    }
  }
  return Object.freeze({ models: Object.freeze(models), byId });
}
