/**
 * The model table as people and the admin console read it: per model its names, lifecycle,
 * USD per image by size (standard and batch, from the price row in force) and default limits.
 * One function builds the data; `npx nanogate models` prints it as text, JSON or markdown (the
 * README's table is that markdown, and a test keeps them equal); GET /admin/models serves it.
 */
import { formatUsd } from '../usage/money.js';
import { isRetired, outputTokensForImage, priceAt, TIERS, type ImageSize, type LifecycleStage, type Limits, type ModelSpec, type Tier } from './catalog.js';
import type { ModelResolver, RetiredPolicy } from './resolver.js';

export interface ModelView {
  /** Canonical Google id. */
  readonly id: string;
  readonly displayName: string;
  /** Names that resolve to it: the table's aliases and the config's. */
  readonly aliases: readonly string[];
  /** The table's stage (Google's word for it); see `retired` and `deprecatedAt` for where it is now. */
  readonly stage: LifecycleStage;
  /** YYYY-MM-DD. */
  readonly released: string;
  /** ISO instants. */
  readonly deprecatedAt: string | null;
  readonly shutdownAt: string | null;
  /** The table's direct successor. */
  readonly replacement: string | null;
  /** Past its shutdown instant. */
  readonly retired: boolean;
  /**
   * The model a request naming it goes to now: itself; for a retired one the end of its
   * replacement chain (models.retired: redirect), or null (refuse, or no replacement).
   */
  readonly servedBy: string | null;
  /** imageSize values Google accepts; [] when the model has no size option. */
  readonly imageSizes: readonly ImageSize[];
  /** USD per output image by size, formatted like every other USD figure ("0.134400"). */
  readonly pricesUsdPerImage: { readonly standard: Readonly<Record<string, string>>; readonly batch: Readonly<Record<string, string>> };
  /** Google's Batch API takes it (#16): its batch prices apply to batches, which the gateway serves. */
  readonly batch: boolean;
  /** YYYY-MM-DD the price row in force took effect. */
  readonly priceFrom: string;
  /** Default project limits by tier (a dimension left out is unlimited). */
  readonly limits: Readonly<Record<Tier, Limits>>;
  /** Default enqueued batch tokens by tier (#16); null: no limit. */
  readonly batchTokens: Readonly<Record<Tier, number | null>>;
}

/** Each model of the table (retired ones included, table order) as it stands at `nowMs`. */
export function describeModels(models: ModelResolver, nowMs: number, retired: RetiredPolicy): ModelView[] {
  return models.allModels().map((m) => describeModel(models, m, nowMs, retired));
}

function describeModel(models: ModelResolver, m: ModelSpec, nowMs: number, policy: RetiredPolicy): ModelView {
  const l = m.lifecycle;
  const retired = isRetired(m, nowMs);
  let end: ModelSpec | undefined = m;
  // The resolver's chain, read without routing (route() throws under refuse).
  for (let hops = 0; end && isRetired(end, nowMs) && hops <= models.allModels().length; hops++) {
    end = end.lifecycle.replacement ? models.lookup(end.lifecycle.replacement) : undefined;
  }
  const row = priceAt(m, nowMs);
  const sizes = m.imageSizes.length > 0 ? m.imageSizes : [m.defaultImageSize];
  const perImage = (rate: number) => Object.fromEntries(sizes.map((s) => [s, formatUsd(outputTokensForImage(m, s) * rate)]));
  return {
    id: m.id,
    displayName: m.displayName,
    aliases: models.aliasesOf(m),
    stage: l.stage,
    released: l.released,
    deprecatedAt: l.deprecatedAtMs === undefined ? null : new Date(l.deprecatedAtMs).toISOString(),
    shutdownAt: l.shutdownAtMs === undefined ? null : new Date(l.shutdownAtMs).toISOString(),
    replacement: l.replacement ?? null,
    retired,
    servedBy: !retired ? m.id : policy === 'redirect' && end ? end.id : null,
    imageSizes: [...m.imageSizes],
    pricesUsdPerImage: { standard: perImage(row.standard.imageOutputNanoPerToken), batch: perImage(row.batch.imageOutputNanoPerToken) },
    batch: m.batch,
    priceFrom: row.from,
    limits: Object.fromEntries(TIERS.map((t) => [t, { ...m.limits[t] }])) as Record<Tier, Limits>,
    batchTokens: Object.fromEntries(TIERS.map((t) => [t, m.batchTokens[t] ?? null])) as Record<Tier, number | null>,
  };
}

/** What `npx nanogate models --json` prints. */
export interface ModelReport {
  /** The instant the table was read at (prices and retirement depend on it). */
  readonly at: string;
  readonly tier: Tier;
  readonly retired: RetiredPolicy;
  readonly models: ReadonlyArray<Omit<ModelView, 'limits' | 'batchTokens'> & { readonly limits: Limits; readonly batchTokens: number | null }>;
}

export function modelReport(models: ModelResolver, nowMs: number, tier: Tier, retired: RetiredPolicy): ModelReport {
  return {
    at: new Date(nowMs).toISOString(),
    tier,
    retired,
    models: describeModels(models, nowMs, retired).map((v) => ({ ...v, limits: v.limits[tier], batchTokens: v.batchTokens[tier] })),
  };
}

/** A date, or the whole instant when it is not midnight UTC. */
function day(iso: string | null): string {
  if (iso === null) return '';
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
}

/** 2026-11-28, or 2026-11-28 21:38 UTC. */
function instantText(iso: string): string {
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

function stageText(v: ModelReport['models'][number], atMs: number): string[] {
  if (v.retired) return ['retired'];
  const deprecated = v.stage === 'deprecated' || (v.deprecatedAt !== null && Date.parse(v.deprecatedAt) <= atMs);
  if (deprecated) return v.deprecatedAt ? ['deprecated', `since ${day(v.deprecatedAt)}`] : ['deprecated'];
  return [v.stage === 'ga' ? 'GA' : v.stage];
}

/** `batch tokens` (#16): the enqueued input tokens of unfinished batches, Google's Batch API limit. */
function limitsText(limits: Limits, batchTokens: number | null): string {
  const all: Record<string, number | undefined> = { rpm: limits.rpm, tpm: limits.tpm, rpd: limits.rpd, ipm: limits.ipm, 'batch tokens': batchTokens ?? undefined };
  const dims = Object.keys(all).filter((d) => all[d] !== undefined);
  if (dims.length === 0) return 'unlimited';
  if (dims.every((d) => all[d] === 0)) return 'not available';
  return dims.map((d) => `${d} ${all[d]}`).join(', ');
}

/** Size labels as a person reads them: a model with no size option makes ~1K images. */
function sizeLabel(v: ModelReport['models'][number], size: string): string {
  return v.imageSizes.length === 0 ? `~${size}` : size;
}

/** One cell per column, each a list of lines. */
function cells(v: ModelReport['models'][number], report: ModelReport): string[][] {
  const atMs = Date.parse(report.at);
  const names = v.aliases.length > 0 ? [...v.aliases] : ['—'];
  const model = [v.id, `(${v.displayName})`];
  const shutdown = v.shutdownAt ? [day(v.shutdownAt)] : [v.stage === 'deprecated' || v.deprecatedAt ? 'not announced' : '—'];
  if (v.retired) {
    const goes = v.servedBy
      ? [`requests go to ${v.servedBy}`]
      : report.retired === 'refuse' && v.replacement
        ? [`refused (404): use ${v.replacement}`]
        : ['refused (404): no replacement'];
    return [names, model, stageText(v, atMs), shutdown, goes, ['—']];
  }
  const prices = Object.keys(v.pricesUsdPerImage.standard).map(
    (size) => `${sizeLabel(v, size)} ${v.pricesUsdPerImage.standard[size]} / ${v.batch ? v.pricesUsdPerImage.batch[size] : 'no batch'}`,
  );
  return [names, model, stageText(v, atMs), shutdown, [...prices, `(prices from ${v.priceFrom})`], [limitsText(v.limits, v.batchTokens)]];
}

function headers(report: ModelReport): string[] {
  return ['name(s)', 'model', 'stage', 'shutdown', 'USD per image: standard / batch', `limits (${report.tier})`];
}

/** The table for a terminal: fixed-width columns, a cell's lines under each other. */
export function renderModelText(report: ModelReport): string {
  const head = headers(report);
  const rows = report.models.map((v) => cells(v, report));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => Math.max(...r[i]!.map((line) => line.length)))));
  const line = (parts: string[]) => parts.map((p, i) => (i === parts.length - 1 ? p : p.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [
    `Model table at ${instantText(report.at)} (limits: ${report.tier}; retired names: ${report.retired}).`,
    'USD per image = output tokens per image x the image output rate of the price row in force.',
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
  ];
  rows.forEach((r, n) => {
    if (n > 0) out.push('');
    const height = Math.max(...r.map((c) => c.length));
    for (let i = 0; i < height; i++) out.push(line(r.map((c) => c[i] ?? '')));
  });
  return out.join('\n');
}

/** The same table in markdown: the README's "Models" table. */
export function renderModelMarkdown(report: ModelReport): string {
  const head = headers(report);
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const out = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const v of report.models) {
    const [names, model, stage, shutdown, prices, limits] = cells(v, report) as [string[], string[], string[], string[], string[], string[]];
    const row = [
      names.map((n) => (n === '—' ? n : `\`${n}\``)).join(', '),
      `\`${model[0]}\` ${model[1]}`,
      stage.join(' '),
      shutdown.join(' '),
      prices.join('<br>'),
      limits.join(' '),
    ];
    out.push(`| ${row.map(esc).join(' | ')} |`);
  }
  return out.join('\n');
}
