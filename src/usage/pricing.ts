import { outputTokensForImage, priceAt, type ImageSize, type ModelSpec, type Rates } from '../models/catalog.js';
import type { ModalityTokenCount, UsageMetadata } from '../gemini/types.js';

/**
 * Exact cost of one upstream call from Google's `usageMetadata` (reference/pricing.md §3), in
 * integer nano-USD so that every rate is whole and totals are plain integer sums. The rates are
 * the model table's price row in force at the time of the call.
 */

export interface CostInput {
  model: ModelSpec;
  /** When the call was made: picks the price row in force. */
  atMs: number;
  batch?: boolean;
  /** A call to a Vertex AI project (#17.3): the model's Vertex AI rows, where it has them. */
  vertex?: boolean;
  usage: UsageMetadata | undefined;
  /** Number of non-thought image parts in the answer (used only when candidatesTokensDetails is missing). */
  imagesReturned: number;
  /** The requested imageSize (for the fallback tokens-per-image), undefined = model default. */
  imageSize?: ImageSize;
  /** Fallback when usage has no prompt counts at all: estimated input tokens from the request. */
  estimatedInputTokens?: number;
}

export interface CostBreakdown {
  /** Integer. */
  costNanoUsd: number;
  inputTokens: number;
  outputImageTokens: number;
  outputTextTokens: number;
  thinkingTokens: number;
  /** Input came from the estimate (pricing.md §3 rule 1). */
  estimated: boolean;
  priceVersion: string;
}

/** Google's token counts are int32 on the wire; anything above is garbage, and clamping keeps costs exact integers. */
const MAX_TOKEN_COUNT = 2_147_483_647;

/**
 * A token count as Google would mean it, or undefined when absent or unusable (so the
 * fallbacks of §3 apply). Fractions round up: never bill less than reported (rule 3).
 */
function tokenCount(v: unknown): number | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return undefined;
  return Math.min(Math.ceil(v), MAX_TOKEN_COUNT);
}

function isImage(d: ModalityTokenCount): boolean {
  return typeof d.modality === 'string' && d.modality.toUpperCase() === 'IMAGE';
}

/** Sum of the entries that `pick` selects; undefined when the details list is absent or empty. */
function sumDetails(details: unknown, pick: (d: ModalityTokenCount) => boolean): number | undefined {
  if (!Array.isArray(details) || details.length === 0) return undefined;
  let sum = 0;
  for (const d of details as unknown[]) {
    if (typeof d !== 'object' || d === null) continue;
    const entry = d as ModalityTokenCount;
    if (pick(entry)) sum += tokenCount(entry.tokenCount) ?? 0;
  }
  return Math.min(sum, MAX_TOKEN_COUNT);
}

export function computeCost(input: CostInput): CostBreakdown {
  const row = priceAt(input.model, input.atMs, input.vertex);
  const rates: Rates = input.batch ? row.batch : row.standard;
  const usage = input.usage;

  // Rule 1: every input modality costs the same, so the prompt total alone prices input.
  let inputTokens = tokenCount(usage?.promptTokenCount) ?? sumDetails(usage?.promptTokensDetails, () => true);
  let estimated = false;
  if (inputTokens === undefined) {
    const estimate = tokenCount(input.estimatedInputTokens);
    estimated = estimate !== undefined;
    inputTokens = estimate ?? 0;
  }
  // Tokens a tool (Search results, URL context) put into the prompt are billed as input and
  // are outside promptTokenCount (they are a separate term of totalTokenCount).
  inputTokens += tokenCount(usage?.toolUsePromptTokenCount) ?? 0;

  const candidatesTokens = tokenCount(usage?.candidatesTokenCount);
  const reportedImageTokens = sumDetails(usage?.candidatesTokensDetails, isImage);
  let outputImageTokens: number;
  let outputTextTokens: number;
  if (reportedImageTokens === undefined) {
    // No per-modality split: the table's tokens per image, capped by the reported candidates
    // total when there is one (rule 2: Google's counts beat our constants), and nothing at all
    // when no image came back (rule 3: never invent output).
    const images = tokenCount(input.imagesReturned) ?? 0;
    const assumed = images * outputTokensForImage(input.model, input.imageSize);
    outputImageTokens = candidatesTokens === undefined ? assumed : Math.min(assumed, candidatesTokens);
    outputTextTokens = Math.max(0, (candidatesTokens ?? 0) - outputImageTokens);
  } else {
    outputImageTokens = reportedImageTokens;
    const otherTokens = sumDetails(usage?.candidatesTokensDetails, (d) => !isImage(d)) ?? 0;
    // Tokens in the total that no listed modality accounts for are billed as text.
    outputTextTokens = otherTokens + Math.max(0, (candidatesTokens ?? 0) - outputImageTokens - otherTokens);
  }
  // Thinking is billed at the text-output rate and is not part of candidatesTokenCount.
  const thinkingTokens = tokenCount(usage?.thoughtsTokenCount) ?? 0;

  const costNanoUsd =
    inputTokens * rates.inputNanoPerToken +
    outputImageTokens * rates.imageOutputNanoPerToken +
    (outputTextTokens + thinkingTokens) * rates.textOutputNanoPerToken;

  return { costNanoUsd, inputTokens, outputImageTokens, outputTextTokens, thinkingTokens, estimated, priceVersion: row.version };
}

/**
 * What a budget holds for one call before it is sent (#13.1): the estimated input, the images
 * it asks for at the requested size (the model's default size when none), and
 * `textTokens` of text and thinking, at the prices in force at `atMs`. The call settles to its
 * real cost afterwards; it can cost more than its hold only by the text and thinking it
 * produces beyond `textTokens` (and by input beyond the estimate).
 *
 * `estimatedInputTokens` is taken as an upper bound on the real prompt (the request estimator
 * counts reference images at the table's per-image upper bound). `images` (default 1: one
 * request yields one image, google-api.md) covers candidateCount and answers with several
 * images (E11).
 */
export function holdCostNanoUsd(
  model: ModelSpec,
  opts: { imageSize?: ImageSize; estimatedInputTokens: number; images?: number; textTokens: number; batch?: boolean; vertex?: boolean; atMs: number },
): number {
  const row = priceAt(model, opts.atMs, opts.vertex);
  const rates = opts.batch ? row.batch : row.standard;
  const inputTokens = tokenCount(opts.estimatedInputTokens) ?? 0;
  const imageTokens = (tokenCount(opts.images) ?? 1) * outputTokensForImage(model, opts.imageSize);
  return (
    inputTokens * rates.inputNanoPerToken +
    imageTokens * rates.imageOutputNanoPerToken +
    (tokenCount(opts.textTokens) ?? 0) * rates.textOutputNanoPerToken
  );
}

/**
 * Worst-case cost of a request before it is sent (`budget.holds: strict`): a hold whose text
 * and thinking allowance is the model's whole `outputTokenLimit`, × calls. Never less than any
 * realistic real cost: Google caps a candidate's output, thinking included, at
 * maxOutputTokens ≤ that limit, so text + thinking can never exceed it. The image tokens are
 * added on top rather than taken out of the limit because whether images count against it is
 * not documented.
 */
export function worstCaseCostNanoUsd(
  model: ModelSpec,
  opts: { imageSize?: ImageSize; estimatedInputTokens: number; calls: number; batch?: boolean; imagesPerCall?: number; atMs: number },
): number {
  const perCallNanoUsd = holdCostNanoUsd(model, {
    atMs: opts.atMs,
    estimatedInputTokens: opts.estimatedInputTokens,
    textTokens: model.outputTokenLimit,
    ...(opts.imageSize ? { imageSize: opts.imageSize } : {}),
    ...(opts.imagesPerCall !== undefined ? { images: opts.imagesPerCall } : {}),
    ...(opts.batch ? { batch: true } : {}),
  });
  return perCallNanoUsd * (tokenCount(opts.calls) ?? 0);
}
