/**
 * Money and tokens of a batch (#16), pure: what its requests hold of the project's enqueued
 * token limit, what its tenant's budget holds for it at Batch prices before it is sent, and the
 * usage record of each of its responses, priced at the Batch rates of the price row in force
 * when the batch was created (pricing.md §3 rule 5).
 */
import type { ImageSize, ModelSpec } from '../models/catalog.js';
import { pacificDay } from '../time/pacific.js';
import { computeCost, holdCostNanoUsd } from '../usage/pricing.js';
import type { UsageFlag, UsageRecord } from '../usage/record.js';
import { batchRecordId } from './names.js';
import type { RequestStats } from './request-stats.js';
import type { ResultItem } from './result-reader.js';

/** Input tokens of the requests, as TPM estimates them (limits.md §6): ~4 bytes of text per token, the table's tokens per input image. */
export function batchInputTokens(model: ModelSpec, stats: RequestStats): number {
  return Math.ceil(stats.textBytes / 4) + stats.inputImages * model.inputTokensPerImage;
}

function sizeOf(model: ModelSpec, key: string): ImageSize | undefined {
  return key !== 'default' && (model.imageSizes as readonly string[]).includes(key) ? (key as ImageSize) : undefined;
}

/**
 * The budget hold of a batch: per request, its input, its images at the size it asks for, and a
 * text and thinking allowance (the model's `textAllowanceTokens`; its whole output limit under
 * `budget.holds: strict`), all at Batch prices. holdCostNanoUsd is linear in every count, so
 * it is applied once per image size to that size's totals.
 */
export function batchHoldNanoUsd(model: ModelSpec, stats: RequestStats, opts: { holds: 'sized' | 'strict'; atMs: number }): bigint {
  const textPerRequest = opts.holds === 'strict' ? model.outputTokenLimit : model.textAllowanceTokens;
  let inputTokens = batchInputTokens(model, stats);
  let total = 0n;
  for (const [key, bucket] of Object.entries(stats.bySize)) {
    const imageSize = sizeOf(model, key);
    total += BigInt(
      holdCostNanoUsd(model, {
        atMs: opts.atMs,
        ...(imageSize ? { imageSize } : {}),
        estimatedInputTokens: inputTokens,
        images: bucket.images,
        textTokens: bucket.requests * textPerRequest,
        batch: true,
      }),
    );
    inputTokens = 0;
  }
  return total;
}

/** google.rpc.Code to HTTP, for a request Google answered with a status object instead of a response. */
const RPC_TO_HTTP: Readonly<Record<number, number>> = { 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401 };

export function httpStatusOf(code: number | undefined): number {
  if (code === undefined) return 500;
  return code >= 100 ? code : (RPC_TO_HTTP[code] ?? 500);
}

/** What of a batch a usage record needs. */
export interface BatchForRecords {
  name: string;
  tenantId: string;
  keyId: string;
  projectId: string;
  createdAtMs: number;
  modelAsked: string;
  route: string;
  /** The size every request asked for, when they all asked the same; null otherwise. */
  imageSize: string | null;
}

const details = (list: Array<{ modality?: string; tokenCount?: number }> | undefined, modality: string) =>
  (list ?? []).filter((x) => x.modality === modality).reduce((s, x) => s + (typeof x.tokenCount === 'number' ? x.tokenCount : 0), 0);

/** The usage record of one response of a batch. */
export function batchUsageRecord(batch: BatchForRecords, model: ModelSpec, item: ResultItem, endMs: number): UsageRecord {
  const usage = item.response?.usageMetadata;
  const imagesReturned = item.response?.imageCount ?? 0;
  const imageSize = batch.imageSize !== null ? sizeOf(model, batch.imageSize) : undefined;
  const cost = computeCost({ model, atMs: batch.createdAtMs, batch: true, usage, imagesReturned, ...(imageSize ? { imageSize } : {}) });
  const flags: UsageFlag[] = [];
  let httpStatus = 200;
  let finishReason: string | null = null;
  if (item.response) {
    if (cost.estimated) flags.push('estimated');
    if (imagesReturned === 0) flags.push('no_image');
    finishReason = item.response.finishReasons[0] ?? item.response.blockReason ?? null;
  } else {
    // A request Google could not process, or a result line the gateway could not read.
    flags.push('upstream_error');
    httpStatus = item.malformed ? 502 : httpStatusOf(item.error?.code);
    finishReason = item.error?.status ?? null;
  }
  return {
    id: batchRecordId(batch.name, item.index, batch.createdAtMs),
    timeMs: batch.createdAtMs,
    day: pacificDay(batch.createdAtMs),
    requestId: batch.name,
    tenantId: batch.tenantId,
    keyId: batch.keyId,
    projectId: batch.projectId,
    route: batch.route,
    modelAsked: batch.modelAsked,
    model: model.id,
    imageSize: imageSize ?? (model.imageSizes.length ? model.defaultImageSize : null),
    imagesReturned,
    inputTokens: cost.inputTokens,
    inputTextTokens: details(usage?.promptTokensDetails, 'TEXT'),
    inputImageTokens: details(usage?.promptTokensDetails, 'IMAGE'),
    outputImageTokens: cost.outputImageTokens,
    outputTextTokens: cost.outputTextTokens,
    thinkingTokens: cost.thinkingTokens,
    costNanoUsd: cost.costNanoUsd,
    httpStatus,
    finishReason,
    latencyMs: Math.max(0, endMs - batch.createdAtMs),
    user: null,
    batch: true,
    flags,
    usageMetadata: usage ?? null,
    priceVersion: cost.priceVersion,
  };
}
