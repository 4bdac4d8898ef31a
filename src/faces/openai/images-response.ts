import { GatewayError, type UpstreamFailure } from '../../errors/gateway-error.js';
import { retryDelayFromGoogle } from '../../gemini/errors.js';
import type { ScanSummary, ScannedImage } from '../../gemini/response-scanner.js';
import type { GoogleErrorBody, ModalityTokenCount, UsageMetadata } from '../../gemini/types.js';
import { formatUsd } from '../../usage/money.js';

/** OpenAI's `usage` block (openai-images.md §2), summed over the n upstream calls. */
export interface ImagesUsage {
  input_tokens: number;
  input_tokens_details: { text_tokens: number; image_tokens: number };
  output_tokens: number;
  output_tokens_details: { text_tokens: number; image_tokens: number };
  total_tokens: number;
}

/** An image whose base64 was spooled rather than kept: the caller streams it from its spool. */
export interface SpooledImage {
  /** Index of the result (upstream call) whose answer holds it. */
  result: number;
  image: ScannedImage;
}

export interface BuiltImagesResponse {
  /** The JSON body in order; image data are the scanner's own Buffers (not copies) or spooled images. */
  chunks: Array<Buffer | SpooledImage>;
  /** Undefined when a spooled image still holds JSON escapes (its decoded length is not known yet). */
  byteLength: number | undefined;
  imageCount: number;
  usage: ImagesUsage;
}

export type ResultClass = { ok: true } | { ok: false; error: GatewayError };

/** What goes out instead of an image as Google sent it: its hosted URL (#14.4), or its converted base64 (#14.6). */
export type ReplacedImage = { url: string; mimeType: string } | { base64: Buffer[]; mimeType: string };

export interface ImagesResponseOptions {
  /** Images that go out as a URL or converted, keyed by the scanned image. */
  replaced?: ReadonlyMap<ScannedImage, ReplacedImage>;
  /** How many of the n images asked for failed (#14.7): `usage.images_failed` when some did. */
  failed?: number;
}

/** Finish and block reasons that mean Google's safety or recitation filters stopped the image (google-api.md §3). */
const POLICY_FINISH_REASONS = new Set([
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'SAFETY',
  'PROHIBITED_CONTENT',
  'BLOCKLIST',
  'SPII',
  'RECITATION',
  'IMAGE_RECITATION',
]);

const TEXT_EXCERPT_CHARS = 200;

function finalImages(summary: ScanSummary): ScannedImage[] {
  return summary.images.filter((image) => !image.thought);
}

function upstreamFailure(error: NonNullable<ScanSummary['error']>): UpstreamFailure {
  const details = (error.details ?? []).filter(
    (d): d is Record<string, unknown> & { '@type': string } =>
      typeof d === 'object' && d !== null && typeof (d as Record<string, unknown>)['@type'] === 'string',
  );
  const body: GoogleErrorBody = { error: { code: error.code, message: error.message, status: error.status, ...(details.length ? { details } : {}) } };
  const retryAfterMs = retryDelayFromGoogle(body);
  // An error envelope inside a 200 body (a stream that failed midway) still is a server failure.
  const httpStatus = error.code >= 400 && error.code <= 599 ? error.code : 502;
  return { httpStatus, googleStatus: error.status, message: error.message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), body };
}

function withMessage(text: string, message: string | undefined): string {
  return message ? `${text}: ${message}` : text;
}

/**
 * Whether one upstream call produced an image for the client, and if not, the error that says
 * why (contract §6): Google's safety blocks are the client's 400 `content_policy_violation`;
 * every other imageless answer is Google's failure, with its reason in the message.
 */
export function classifyResult(summary: ScanSummary): ResultClass {
  if (summary.error) {
    const upstream = upstreamFailure(summary.error);
    return { ok: false, error: new GatewayError('UPSTREAM_ERROR', `Google returned ${summary.error.status}: ${summary.error.message}`, { upstream }) };
  }
  if (summary.malformed) {
    // A truncated body may end inside an image; nothing in it can be trusted to be whole.
    return { ok: false, error: new GatewayError('NO_IMAGE', 'Google returned a malformed response that could not be read.') };
  }
  if (finalImages(summary).length > 0) return { ok: true };

  if (summary.blockReason) {
    return {
      ok: false,
      error: new GatewayError(
        'CONTENT_POLICY',
        withMessage(`Your request was rejected by Google's safety system (prompt blocked: ${summary.blockReason})`, summary.blockReasonMessage) + '.',
      ),
    };
  }
  const policy = summary.finishReasons.find((r) => POLICY_FINISH_REASONS.has(r));
  if (policy) {
    return {
      ok: false,
      error: new GatewayError('CONTENT_POLICY', withMessage(`Your request was rejected by Google's safety system (${policy})`, summary.finishMessage) + '.'),
    };
  }

  const reasons = summary.finishReasons.filter((r, i, all) => all.indexOf(r) === i).join(', ');
  const text = summary.text.trim();
  let message: string;
  if (summary.finishReasons.length === 0) {
    message = 'Google returned no image and no finish reason.';
  } else if (text && summary.finishReasons.every((r) => r === 'STOP')) {
    const excerpt = text.length > TEXT_EXCERPT_CHARS ? `${text.slice(0, TEXT_EXCERPT_CHARS)}…` : text;
    message = `Google returned text instead of an image (finish reason STOP): ${JSON.stringify(excerpt)}`;
  } else {
    message = withMessage(`Google returned no image (finish reason ${reasons})`, summary.finishMessage) + '.';
  }
  return { ok: false, error: new GatewayError('NO_IMAGE', message) };
}

function modalityTokens(details: readonly ModalityTokenCount[] | undefined, modality: string): number {
  let sum = 0;
  for (const d of details ?? []) if (d.modality === modality) sum += d.tokenCount ?? 0;
  return sum;
}

/**
 * input = promptTokenCount; output = candidatesTokenCount + thoughtsTokenCount (thinking is
 * billed as output, pricing.md). Image counts come from the modality details; the remainder
 * is text, so the details always add up to their totals even when Google omits a detail
 * (zero counts are omitted, google-api.md §3).
 */
export function sumUsage(summaries: readonly ScanSummary[]): ImagesUsage {
  return usageFromMetadata(summaries.map((s) => s.usageMetadata));
}

/** The same sum from Google's usageMetadata blocks themselves (batch results carry no scan summary). */
export function usageFromMetadata(list: ReadonlyArray<UsageMetadata | undefined>): ImagesUsage {
  let input = 0;
  let inputImage = 0;
  let output = 0;
  let outputImage = 0;
  for (const u of list) {
    if (!u) continue;
    input += u.promptTokenCount ?? 0;
    inputImage += modalityTokens(u.promptTokensDetails, 'IMAGE');
    output += (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0);
    outputImage += modalityTokens(u.candidatesTokensDetails, 'IMAGE');
  }
  inputImage = Math.min(inputImage, input);
  outputImage = Math.min(outputImage, output);
  return {
    input_tokens: input,
    input_tokens_details: { text_tokens: input - inputImage, image_tokens: inputImage },
    output_tokens: output,
    output_tokens_details: { text_tokens: output - outputImage, image_tokens: outputImage },
    total_tokens: input + output,
  };
}

const OUTPUT_FORMATS: Readonly<Record<string, string>> = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/webp': 'webp' };

/**
 * OpenAI's ImagesResponse (contract §6) as a list of Buffers: small JSON scaffolding around the
 * base64 slices the scanner captured, which are referenced, never decoded, re-encoded or joined
 * into a string (a 4K image is ~20 MB of base64, bench §10). The slices are the raw contents of
 * Google's JSON strings, so they are already valid JSON string contents.
 *
 * `data` holds the final (non-thought) images of the calls classifyResult accepts; `usage`
 * sums every call passed in, failed ones included, since Google bills them too.
 */
export function buildImagesResponse(
  results: ReadonlyArray<{ summary: ScanSummary }>,
  createdSec: number,
  costNanoUsd: number,
  options: ImagesResponseOptions = {},
): BuiltImagesResponse {
  const chunks: Array<Buffer | SpooledImage> = [Buffer.from(`{"created":${Math.floor(createdSec)},"data":[`)];
  const mimeTypes = new Set<string>();
  let imageCount = 0;
  let byteLength: number | undefined = 0;
  for (const [result, { summary }] of results.entries()) {
    if (!classifyResult(summary).ok) continue;
    const text = summary.text.trim();
    const revised = text ? `,"revised_prompt":${JSON.stringify(text)}` : '';
    for (const image of finalImages(summary)) {
      const replaced = options.replaced?.get(image);
      if (replaced && 'url' in replaced) {
        chunks.push(Buffer.from(`${imageCount > 0 ? ',' : ''}{"url":${JSON.stringify(replaced.url)}${revised}}`));
        mimeTypes.add(replaced.mimeType);
        imageCount += 1;
        continue;
      }
      chunks.push(Buffer.from(`${imageCount > 0 ? ',' : ''}{"b64_json":"`));
      if (replaced) {
        // Buffers: counted with the scaffolding below.
        for (const piece of replaced.base64) chunks.push(piece);
        chunks.push(Buffer.from(`"${revised}}`));
        mimeTypes.add(replaced.mimeType);
        imageCount += 1;
        continue;
      }
      if (image.ranges) {
        chunks.push({ result, image });
        byteLength = image.escaped || byteLength === undefined ? undefined : byteLength + image.base64Length;
      } else {
        for (const slice of image.base64) chunks.push(slice);
      }
      chunks.push(Buffer.from(`"${revised}}`));
      mimeTypes.add(image.mimeType);
      imageCount += 1;
    }
  }
  const usage = sumUsage(results.map((r) => r.summary));
  const [onlyType] = mimeTypes;
  const outputFormat = mimeTypes.size === 1 && onlyType ? OUTPUT_FORMATS[onlyType] : undefined;
  const usageJson = JSON.stringify(usage).slice(0, -1);
  chunks.push(
    Buffer.from(
      // Amounts are six-decimal strings on this face, as in its reports (#13.5): exact, never a float.
      `]${outputFormat ? `,"output_format":"${outputFormat}"` : ''},"usage":${usageJson}${options.failed ? `,"images_failed":${options.failed}` : ''},"cost_usd":"${formatUsd(costNanoUsd)}"}}`,
    ),
  );
  if (byteLength !== undefined) for (const chunk of chunks) if (Buffer.isBuffer(chunk)) byteLength += chunk.length;
  return { chunks, byteLength, imageCount, usage };
}
