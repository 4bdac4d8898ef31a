/**
 * What the gateway knows of one Google model: the type of a row of the model table
 * (config/models.yaml, loaded by model-table.ts). Routing, quota, pricing, the OpenAI size
 * mapping and budget holds all read these rows, so an alias can never be priced or limited
 * differently from the model it names.
 */
export type ImageSize = '512' | '1K' | '2K' | '4K';

export const IMAGE_SIZES: readonly ImageSize[] = ['512', '1K', '2K', '4K'];

export type Tier = 'free' | 'tier1' | 'tier2' | 'tier3';

export const TIERS: readonly Tier[] = ['free', 'tier1', 'tier2', 'tier3'];

/** A dimension left out is unlimited at that level (contract §2). */
export interface Limits {
  rpm?: number;
  tpm?: number;
  rpd?: number;
  ipm?: number;
  /**
   * Google's Batch API limit (#16): input tokens of the project's batches for this model that
   * Google has not finished (enqueued tokens). Batches do not draw on rpm/tpm/rpd/ipm, and the
   * quota store never sees this: a project's override of it is read by batch admission, the
   * table's defaults are ModelSpec.batchTokens.
   */
  batchTokens?: number;
}

export type LifecycleStage = 'preview' | 'ga' | 'deprecated';

export interface Lifecycle {
  readonly stage: LifecycleStage;
  /** YYYY-MM-DD. */
  readonly released: string;
  /** When Google announced it deprecated (RFC 9745's Deprecation), if it has. */
  readonly deprecatedAtMs?: number;
  /** From this instant on the model is retired: Google answers 404 (RFC 8594's Sunset). */
  readonly shutdownAtMs?: number;
  /** The model that takes its traffic once it is retired (and its successor before). */
  readonly replacement?: string;
}

/** nano-USD (1e-9 USD) per token: every Google rate is a whole number of them. */
export interface Rates {
  readonly inputNanoPerToken: number;
  readonly textOutputNanoPerToken: number;
  readonly imageOutputNanoPerToken: number;
}

/** One row of a model's prices: in force from `fromMs` until the next row's. */
export interface PriceRow {
  /** YYYY-MM-DD, as written in the table. */
  readonly from: string;
  readonly fromMs: number;
  /** Kept on each usage record: the model, the row's date and a hash of its rates. */
  readonly version: string;
  readonly standard: Rates;
  readonly batch: Rates;
}

export interface ModelSpec {
  /** Canonical Google model id: what Google always sees. */
  readonly id: string;
  readonly displayName: string;
  readonly description: string;
  readonly version: string;
  /** The table's own nicknames for it (config aliases may add or re-point). */
  readonly aliases: readonly string[];
  readonly lifecycle: Lifecycle;
  readonly aspectRatios: readonly string[];
  /** `imageSize` values accepted; empty when the model has no size option (always ~1K). */
  readonly imageSizes: readonly ImageSize[];
  /** Size produced when a request names none. */
  readonly defaultImageSize: ImageSize;
  /** Which output pixel table the size mapping uses. */
  readonly pixels: 'standard' | 'flash25';
  /** Output tokens Google bills per image, by size (at least the default size). */
  readonly outputTokensPerImage: Readonly<Partial<Record<ImageSize, number>>>;
  /** Input tokens per reference image (an upper bound). */
  readonly inputTokensPerImage: number;
  readonly maxReferenceImages: number;
  readonly inputTokenLimit: number;
  readonly outputTokenLimit: number;
  readonly thinking: boolean;
  /** Google's Batch API takes it. */
  readonly batch: boolean;
  /** Text + thinking tokens a budget hold allows for one call. */
  readonly textAllowanceTokens: number;
  /** Oldest first. */
  readonly prices: readonly PriceRow[];
  /**
   * Vertex AI's rows, oldest first, where its prices differ from the Gemini API's (#17.3);
   * absent: a Vertex AI project's calls are priced at `prices`.
   */
  readonly vertexPrices?: readonly PriceRow[];
  /** Default project limits by tier. */
  readonly limits: Readonly<Record<Tier, Limits>>;
  /** Default batchTokens by tier (#16): the table's `limits.<tier>.batchTokens`; undefined: no limit. */
  readonly batchTokens: Readonly<Record<Tier, number | undefined>>;
}

/** Tokens Google bills for one output image of `size` (the model's default size when unset or unknown to it). */
export function outputTokensForImage(model: ModelSpec, size: ImageSize | undefined): number {
  return model.outputTokensPerImage[size ?? model.defaultImageSize] ?? model.outputTokensPerImage[model.defaultImageSize] ?? 0;
}

/**
 * The price row in force at `atMs` (the first row for a time before it): of Vertex AI's rows for
 * a call to a Vertex AI project when the model has them, else of the Gemini API's.
 */
export function priceAt(model: ModelSpec, atMs: number, vertex = false): PriceRow {
  const rows = vertex && model.vertexPrices ? model.vertexPrices : model.prices;
  let row = rows[0]!;
  for (const candidate of rows) {
    if (candidate.fromMs <= atMs) row = candidate;
    else break;
  }
  return row;
}

/** True from the model's shutdown instant on. */
export function isRetired(model: ModelSpec, atMs: number): boolean {
  return model.lifecycle.shutdownAtMs !== undefined && atMs >= model.lifecycle.shutdownAtMs;
}

/** Deprecated (announced, or by stage) at `atMs`, whether or not it is shut down yet. */
export function isDeprecated(model: ModelSpec, atMs: number): boolean {
  const l = model.lifecycle;
  return l.stage === 'deprecated' || (l.deprecatedAtMs !== undefined && atMs >= l.deprecatedAtMs) || isRetired(model, atMs);
}
