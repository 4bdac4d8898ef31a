/**
 * Gemini answers as chat completions (#14.1): text in `message.content`, images in
 * `message.images` as data URLs (OpenRouter's shape), thought signatures in
 * `message.reasoning_details` for the next turn to hand back, usage with tokens and cost.
 */
import type { GatewayError } from '../../errors/gateway-error.js';
import type { ScanSummary } from '../../gemini/response-scanner.js';
import { formatUsd } from '../../usage/money.js';
import { SIGNATURE_FORMAT } from './chat-request.js';
import { classifyResult, sumUsage } from './images-response.js';
import type { JsonSplicer } from './json-splice.js';
import type { AnswerSpool } from './answer-spool.js';
import { finalImages, imagePieces } from './upstream-calls.js';

export type ChatFinishReason = 'stop' | 'length' | 'content_filter' | 'error';

/** Finish and block reasons of Google's safety and recitation filters (google-api.md §3). */
const FILTERED = new Set(['IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'SAFETY', 'PROHIBITED_CONTENT', 'BLOCKLIST', 'SPII', 'RECITATION', 'IMAGE_RECITATION']);

export function finishReasonOf(summary: ScanSummary): ChatFinishReason {
  if (summary.blockReason) return 'content_filter';
  const reason = summary.finishReasons[0];
  if (reason === undefined || reason === 'STOP') return 'stop';
  if (reason === 'MAX_TOKENS') return 'length';
  if (FILTERED.has(reason)) return 'content_filter';
  return 'stop';
}

/**
 * Whether a call's answer is one a chat client gets: any text or image. A text-only answer is a
 * chat answer like any other (the model asked back, or described instead of drawing); an answer
 * with neither is the error classifyResult names (a safety block, or no image with its reason).
 */
export function chatVerdict(summary: ScanSummary): { ok: true } | { ok: false; error: GatewayError } {
  if (summary.error || summary.malformed) return classifyResult(summary) as { ok: false; error: GatewayError };
  if (summary.text.trim() !== '' || finalImages(summary).length > 0) return { ok: true };
  return classifyResult(summary) as { ok: false; error: GatewayError };
}

export interface ReasoningDetail {
  type: 'reasoning.encrypted';
  /** Google's thoughtSignature, opaque. */
  data: string;
  /** The part it signs: `text-0`, `image-0`, … */
  id: string;
  format: typeof SIGNATURE_FORMAT;
  index: number;
}

/** The answer's thought signatures, for the client to send back with this assistant message. */
export function reasoningDetailsOf(summary: ScanSummary): ReasoningDetail[] {
  return summary.signedParts
    .filter((p) => p.kind === 'image' || p.index === 0)
    .map((p, index) => ({ type: 'reasoning.encrypted', data: p.signature, id: `${p.kind}-${p.index}`, format: SIGNATURE_FORMAT, index }));
}

/** An image as `{type: "image_url", image_url: {url: "data:…"}}`, its base64 spliced in. */
export function imageUrlPart(splicer: JsonSplicer, image: ScanSummary['images'][number], index?: number, spool?: AnswerSpool) {
  return {
    type: 'image_url' as const,
    image_url: { url: splicer.slot(imagePieces(image, spool), `data:${image.mimeType};base64,`) },
    ...(index !== undefined ? { index } : {}),
  };
}

export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; image_tokens: number };
  completion_tokens_details: { reasoning_tokens: number; image_tokens: number };
  /** USD, six decimals (the face's one money format). */
  cost_usd: string;
  /** Of the n images (choices) asked for, how many failed (#14.7); present when some did. */
  images_failed?: number;
}

/** Usage of every answered call (Google bills failed ones too), thinking counted as completion. */
export function chatUsage(summaries: readonly ScanSummary[], costNanoUsd: number, failed: number): ChatUsage {
  const u = sumUsage(summaries);
  let thoughts = 0;
  for (const s of summaries) thoughts += s.usageMetadata?.thoughtsTokenCount ?? 0;
  return {
    prompt_tokens: u.input_tokens,
    completion_tokens: u.output_tokens,
    total_tokens: u.total_tokens,
    prompt_tokens_details: { cached_tokens: 0, image_tokens: u.input_tokens_details.image_tokens },
    completion_tokens_details: { reasoning_tokens: thoughts, image_tokens: u.output_tokens_details.image_tokens },
    cost_usd: formatUsd(costNanoUsd),
    ...(failed > 0 ? { images_failed: failed } : {}),
  };
}

/** The `message` of one choice. */
export function chatMessage(splicer: JsonSplicer, summary: ScanSummary, spool?: AnswerSpool) {
  const text = summary.text;
  const images = finalImages(summary).map((image) => imageUrlPart(splicer, image, undefined, spool));
  const details = reasoningDetailsOf(summary);
  return {
    role: 'assistant' as const,
    content: text === '' ? null : text,
    refusal: null,
    ...(images.length > 0 ? { images } : {}),
    ...(summary.thoughtText !== '' ? { reasoning: summary.thoughtText } : {}),
    ...(details.length > 0 ? { reasoning_details: details } : {}),
  };
}
