/**
 * What the mock says to a generation request: request checks, usageMetadata arithmetic and the
 * answer objects, both whole (generateContent) and as stream chunks (streamGenerateContent).
 *
 * usageMetadata (google-api.md §3, pricing.md §2):
 *   prompt     = ceil(text chars / 4) + input images × the model's tokens per input image
 *   candidates = reply text ceil(chars / 4) + the model's tokens for one image of the size
 *                (no imageSize = 1K)
 *   thoughts   = ceil(thought summary chars / 4), Gemini 3 models only
 *   total      = prompt + candidates + thoughts; zero counts and empty details are omitted.
 */
import type { MockImageSize, MockModel } from './models.js';
import { IMAGE_SLOT, errors, googleError, type GoogleError } from './wire.js';
import { createHash, createHmac } from 'node:crypto';

/** Has `&` and `<>` so clients meet Google's \u0026 / \u003c escapes in every answer. */
export const THOUGHT_TEXT =
  '**Composing the image**\n\nI\'m framing the subject & balancing the light <soft, warm> before rendering the final picture.';
export const REPLY_TEXT = 'Here is the image you asked for.';
export const TEXT_ONLY_REPLY = 'I can describe this scene, but I did not draw an image for it this time.';
export const IMAGE_SAFETY_MESSAGE =
  'Unable to show the generated image. The image was filtered out because it violated Google\'s Generative AI Prohibited Use policy. You will not be charged for blocked images. Try rephrasing the prompt. If you think this was an error, send feedback.';

const IMAGE_MIME_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/heic', 'image/heif']);
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

export function textTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export interface PromptStats {
  textChars: number;
  inputImages: number;
  /** Every part's thoughtSignature, and every fileData.fileUri, as sent: what belongs to a project (#17.5). */
  signatures: string[];
  fileUris: string[];
}

export interface GenerateInput extends PromptStats {
  imageSize: MockImageSize | undefined;
  wantText: boolean;
  wantImage: boolean;
}

type Json = Record<string, unknown>;

function asObject(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/** Google accepts camelCase and snake_case request keys (google-api.md: wire JSON). */
function field(o: Json | undefined, camel: string, snake: string): unknown {
  if (o === undefined) return undefined;
  return o[camel] ?? o[snake];
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: GoogleError };

/** Empty bodies count as `{}`, as at Google: the missing `contents` is what gets reported. */
export function parseJsonObject(body: Buffer): Parsed<Json> {
  if (body.length === 0) return { ok: true, value: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, error: errors.invalidJson('Unexpected token.') };
  }
  const root = asObject(parsed);
  if (root === undefined) return { ok: false, error: errors.invalidJson('Unknown name "": Root element must be a message.') };
  return { ok: true, value: root };
}

/** Counts prompt text and input images; refuses image MIME types and base64 Google refuses. */
export function promptStats(request: Json, requestName: string): Parsed<PromptStats> {
  const contents = field(request, 'contents', 'contents');
  if (!Array.isArray(contents) || contents.length === 0) return { ok: false, error: errors.missingContents(requestName) };
  const stats: PromptStats = { textChars: 0, inputImages: 0, signatures: [], fileUris: [] };
  const turns: Array<[string, unknown]> = contents.map((c, i) => [`contents[${i}]`, c]);
  const system = field(request, 'systemInstruction', 'system_instruction');
  if (system !== undefined) turns.push(['system_instruction', system]);
  for (const [where, turn] of turns) {
    const parts = field(asObject(turn), 'parts', 'parts');
    if (!Array.isArray(parts)) continue;
    for (const [j, p] of parts.entries()) {
      const part = asObject(p);
      const text = part?.['text'];
      if (typeof text === 'string') stats.textChars += text.length;
      const inline = asObject(field(part, 'inlineData', 'inline_data'));
      const file = asObject(field(part, 'fileData', 'file_data'));
      const signature = field(part, 'thoughtSignature', 'thought_signature');
      if (typeof signature === 'string') stats.signatures.push(signature);
      const fileUri = field(file, 'fileUri', 'file_uri');
      if (typeof fileUri === 'string') stats.fileUris.push(fileUri);
      const media = inline ?? file;
      if (media === undefined || part?.['thought'] === true) continue;
      const mime = field(media, 'mimeType', 'mime_type');
      if (typeof mime === 'string' && mime.startsWith('image/')) {
        if (!IMAGE_MIME_TYPES.has(mime)) return { ok: false, error: googleError(400, 'INVALID_ARGUMENT', `Unsupported MIME type: ${mime}`) };
        stats.inputImages += 1;
      }
      const data = inline?.['data'];
      if (inline !== undefined && (typeof data !== 'string' || !BASE64.test(data))) {
        const at = `${where}.parts[${j}].inline_data.data`;
        const shown = typeof data === 'string' ? data.slice(0, 32) : String(data);
        const message = `Invalid value at '${at}' (TYPE_BYTES), Base64 decoding failed for "${shown}"`;
        return {
          ok: false,
          error: googleError(400, 'INVALID_ARGUMENT', message, [
            { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: at, description: message }] },
          ]),
        };
      }
    }
  }
  return { ok: true, value: stats };
}

export function parseGenerateRequest(model: MockModel, body: Buffer): Parsed<GenerateInput> {
  const root = parseJsonObject(body);
  if (!root.ok) return root;
  const stats = promptStats(root.value, 'GenerateContentRequest');
  if (!stats.ok) return stats;

  const config = asObject(field(root.value, 'generationConfig', 'generation_config'));
  const imageConfig = asObject(field(config, 'imageConfig', 'image_config'));
  const imageSize = field(imageConfig, 'imageSize', 'image_size');
  const aspectRatio = field(imageConfig, 'aspectRatio', 'aspect_ratio');
  // Sizes are case-sensitive ("1k" is refused) and 2.5 Flash has no size option at all.
  if (imageSize !== undefined && !model.imageSizes.some((s) => s === imageSize)) return { ok: false, error: errors.invalidArgument() };
  if (aspectRatio !== undefined && !model.aspectRatios.some((r) => r === aspectRatio)) return { ok: false, error: errors.invalidArgument() };

  const modalities = field(config, 'responseModalities', 'response_modalities');
  let wantText = true;
  let wantImage = true;
  if (Array.isArray(modalities) && modalities.length > 0) {
    const named = modalities.map((m) => String(m).toUpperCase());
    const unsupported = named.filter((m) => m !== 'TEXT' && m !== 'IMAGE');
    if (unsupported.length > 0) {
      return { ok: false, error: googleError(400, 'INVALID_ARGUMENT', `Model does not support the requested response modalities: ${named.map((m) => m.toLowerCase()).join(',')}`) };
    }
    wantText = named.includes('TEXT');
    wantImage = named.includes('IMAGE');
  }
  return { ok: true, value: { ...stats.value, imageSize: imageSize as MockImageSize | undefined, wantText, wantImage } };
}

export function promptTokens(model: MockModel, stats: PromptStats): { text: number; image: number } {
  return { text: Math.ceil(stats.textChars / 4), image: stats.inputImages * model.inputImageTokens };
}

interface Tally {
  promptText: number;
  promptImage: number;
  replyText: number;
  image: number;
  thoughts: number;
}

function usageMetadata(t: Tally): Json {
  const candidates = t.replyText + t.image;
  const prompt = t.promptText + t.promptImage;
  const details = (text: number, image: number) => {
    const list: Json[] = [];
    if (text > 0) list.push({ modality: 'TEXT', tokenCount: text });
    if (image > 0) list.push({ modality: 'IMAGE', tokenCount: image });
    return list.length > 0 ? list : undefined;
  };
  const usage: Json = { promptTokenCount: prompt };
  if (candidates > 0) usage['candidatesTokenCount'] = candidates;
  usage['totalTokenCount'] = prompt + candidates + t.thoughts;
  const promptDetails = details(t.promptText, t.promptImage);
  if (promptDetails) usage['promptTokensDetails'] = promptDetails;
  const candidateDetails = details(t.replyText, t.image);
  if (candidateDetails) usage['candidatesTokensDetails'] = candidateDetails;
  if (t.thoughts > 0) usage['thoughtsTokenCount'] = t.thoughts;
  return usage;
}

export type Outcome =
  | { kind: 'image' }
  | { kind: 'textOnly'; text: string }
  | { kind: 'finish'; finishReason: string }
  | { kind: 'promptBlocked'; blockReason: string };

export interface Answer {
  /** The generateContent body. */
  whole: Json;
  /** The streamGenerateContent chunks, each with cumulative usage; the last carries finishReason. */
  chunks: Json[];
  /** Whether IMAGE_SLOT occurs in the answer. */
  hasImage: boolean;
}

/**
 * Opaque like Google's, stable for one answer, and bound to the project that made it (`signer`:
 * its key): a seed and the seed's HMAC under the signer, so the mock knows its own signatures
 * from another project's (#17.5).
 */
function thoughtSignature(responseId: string, n: number, signer: string): string {
  const seed = createHash('sha256').update(`${responseId}:${n}`).digest();
  return Buffer.concat([seed, createHmac('sha256', signer).update(seed).digest()]).toString('base64');
}

/**
 * What Google says to a request that hands back a signature another project made. The
 * reference (google-api.md) does not document it; this is the 400 Google is reported to give a
 * signature it cannot verify. A string that is not one of the mock's signatures at all passes:
 * tests may send their own, and Gemini 3 Pro Image takes turns without valid ones.
 */
export function foreignSignature(signatures: readonly string[], signer: string): GoogleError | undefined {
  for (const signature of signatures) {
    const raw = Buffer.from(signature, 'base64');
    if (raw.length !== 64 || raw.toString('base64') !== signature) continue;
    const mac = createHmac('sha256', signer).update(raw.subarray(0, 32)).digest();
    if (!mac.equals(raw.subarray(32))) return googleError(400, 'INVALID_ARGUMENT', 'Corrupted thought signature.');
  }
  return undefined;
}

/**
 * A fileData.fileUri naming a Files API object the requesting project cannot read: 403, as
 * Google answers for a file of another project or none (its wording, as gemini/errors.ts expects).
 * URIs that name no Files object (gs://, a web image) are not the Files API's and pass.
 */
export function unreadableFile(fileUris: readonly string[], readable: (id: string) => boolean): GoogleError | undefined {
  for (const uri of fileUris) {
    const id = /(?:^|\/)files\/([^/?#:]+)$/.exec(uri)?.[1];
    if (id !== undefined && !readable(id)) return googleError(403, 'PERMISSION_DENIED', `You do not have permission to access the File files/${id} or it may not exist.`);
  }
  return undefined;
}

export interface AnswerOptions {
  /**
   * Interim images a thinking model shows before its final one (google-api.md §3: "up to 2
   * interim images on Pro"), as `thought: true` inlineData parts after the thought text, each
   * in a stream chunk of its own. Base64 of each, in order.
   */
  interimImages?: readonly string[];
  /** Who signs the answer's thought signatures: the project's key (or a Vertex project). Default ''. */
  signer?: string;
}

export function buildAnswer(model: MockModel, input: GenerateInput, responseId: string, outcome: Outcome, options: AnswerOptions = {}): Answer {
  const { text: promptText, image: promptImage } = promptTokens(model, input);
  const envelope = (rest: Json, usage: Tally): Json => ({
    ...rest,
    usageMetadata: usageMetadata(usage),
    modelVersion: model.id,
    responseId,
    ...(model.modelStatus ? { modelStatus: model.modelStatus } : {}),
  });
  const before: Tally = { promptText, promptImage, replyText: 0, image: 0, thoughts: 0 };

  if (outcome.kind === 'promptBlocked') {
    const body = envelope({ promptFeedback: { blockReason: outcome.blockReason } }, before);
    return { whole: body, chunks: [body], hasImage: false };
  }

  const thinking = model.thinking;
  const thought: Tally = { ...before, thoughts: thinking ? textTokens(THOUGHT_TEXT) : 0 };
  const candidate = (parts: Json[] | undefined, finishReason?: string, finishMessage?: string): Json => {
    const c: Json = {};
    if (parts) c['content'] = { parts, role: 'model' };
    if (finishReason) c['finishReason'] = finishReason;
    c['index'] = 0;
    if (finishMessage) c['finishMessage'] = finishMessage;
    return { candidates: [c] };
  };
  // Interim images only where a final image was asked for: they are drafts of it.
  const interim: Json[] = thinking && input.wantImage ? (options.interimImages ?? []).map((data) => ({ inlineData: { mimeType: 'image/png', data }, thought: true })) : [];
  const thoughtChunks = thinking ? [envelope(candidate([{ text: THOUGHT_TEXT, thought: true }]), thought), ...interim.map((part) => envelope(candidate([part]), thought))] : [];
  const thoughtParts: Json[] = thinking ? [{ text: THOUGHT_TEXT, thought: true }, ...interim] : [];

  if (outcome.kind === 'finish') {
    const blockedImage = outcome.finishReason === 'IMAGE_SAFETY' || outcome.finishReason === 'IMAGE_PROHIBITED_CONTENT';
    const last = envelope(candidate(undefined, outcome.finishReason, blockedImage ? IMAGE_SAFETY_MESSAGE : undefined), thought);
    return { whole: last, chunks: [...thoughtChunks, last], hasImage: false };
  }

  const replyText = outcome.kind === 'textOnly' ? outcome.text : input.wantText ? REPLY_TEXT : undefined;
  const withImage = outcome.kind === 'image' && input.wantImage;
  // thoughtSignature sits on the first non-thought part and on each final image (google-api.md §3).
  let signatures = 0;
  const sign = (part: Json): Json => (thinking ? { ...part, thoughtSignature: thoughtSignature(responseId, signatures++, options.signer ?? '') } : part);
  const answerParts: Json[] = [];
  if (replyText !== undefined) answerParts.push(sign({ text: replyText }));
  if (withImage) answerParts.push(sign({ inlineData: { mimeType: 'image/png', data: IMAGE_SLOT } }));

  const final: Tally = {
    ...thought,
    replyText: replyText === undefined ? 0 : textTokens(replyText),
    image: withImage ? model.imageTokens[input.imageSize ?? '1K'] : 0,
  };
  const chunks = [...thoughtChunks];
  answerParts.forEach((part, i) => {
    const isLast = i === answerParts.length - 1;
    // Until the last chunk Google reports only what is settled: prompt and thinking.
    chunks.push(envelope(candidate([part], isLast ? 'STOP' : undefined), isLast ? final : thought));
  });
  if (answerParts.length === 0) chunks.push(envelope(candidate([], 'STOP'), final));
  return { whole: envelope(candidate([...thoughtParts, ...answerParts], 'STOP'), final), chunks, hasImage: withImage };
}

/** The countTokens body (google-api.md §6): the request's prompt, as generateContent counts it. */
export function countTokensAnswer(model: MockModel, body: Buffer): Parsed<Json> {
  const root = parseJsonObject(body);
  if (!root.ok) return root;
  const nested = asObject(field(root.value, 'generateContentRequest', 'generate_content_request'));
  const stats = nested ? promptStats(nested, 'GenerateContentRequest') : promptStats(root.value, 'CountTokensRequest');
  if (!stats.ok) return stats;
  const { text, image } = promptTokens(model, stats.value);
  const details: Json[] = [];
  if (text > 0) details.push({ modality: 'TEXT', tokenCount: text });
  if (image > 0) details.push({ modality: 'IMAGE', tokenCount: image });
  const answer: Json = { totalTokens: text + image };
  if (details.length > 0) answer['promptTokensDetails'] = details;
  return { ok: true, value: answer };
}
