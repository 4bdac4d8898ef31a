import type { ImageSize, ModelSpec } from '../models/catalog.js';
import type { Content, GenerateContentRequest } from './types.js';

/** What admission needs to know about a request before it goes upstream. */
export interface RequestEstimate {
  /** Input tokens estimated for TPM (limits.md §6); corrected from usageMetadata afterwards. */
  inputTokens: number;
  /** Reference images in the request (inlineData and fileData parts). */
  inputImages: number;
  /** Output images the call asks for (candidateCount, at least 1). */
  outputImages: number;
  /** The requested imageSize when it is one the model knows; undefined = model default. */
  imageSize: ImageSize | undefined;
  /** generationConfig.maxOutputTokens when the request sets one: caps text and thinking (a budget hold uses it, #13.1). */
  maxOutputTokens?: number;
  /**
   * The thought signatures the request hands back (earlier model turns' `thoughtSignature`s), in
   * request order, when it has any: Google accepts them only in the project that made them, so
   * admission over a pool pins the call there (#17.5).
   */
  signatures?: string[];
}

const IMAGE_SIZES: readonly string[] = ['512', '1K', '2K', '4K'];

/** Text tokens: ~4 chars per token for Latin text; CJK and other scripts ~1.5 chars (limits.md §6). */
export function estimateTextTokens(text: string): number {
  let latin = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) < 0x2e80) latin++;
    else other++;
  }
  return Math.ceil(latin / 4 + other / 1.5);
}

function contentsOf(req: GenerateContentRequest): Content[] {
  const out: Content[] = [];
  if (Array.isArray(req.contents)) out.push(...req.contents.filter((c): c is Content => !!c && typeof c === 'object'));
  if (req.systemInstruction && typeof req.systemInstruction === 'object') out.push(req.systemInstruction);
  return out;
}

export function estimateRequest(model: ModelSpec, req: GenerateContentRequest): RequestEstimate {
  let textTokens = 0;
  let inputImages = 0;
  let signatures: string[] | undefined;
  for (const content of contentsOf(req)) {
    if (!Array.isArray(content.parts)) continue;
    for (const part of content.parts) {
      if (!part || typeof part !== 'object') continue;
      if (typeof part.text === 'string' && part.thought !== true) textTokens += estimateTextTokens(part.text);
      if (part.inlineData || part.fileData) inputImages++;
      // Google takes snake_case request keys too (google-api.md §1).
      const signature = part.thoughtSignature ?? (part as { thought_signature?: unknown }).thought_signature;
      if (typeof signature === 'string' && signature !== '') (signatures ??= []).push(signature);
    }
  }
  const gc = req.generationConfig && typeof req.generationConfig === 'object' ? req.generationConfig : undefined;
  const size = gc?.imageConfig?.imageSize;
  const imageSize = typeof size === 'string' && IMAGE_SIZES.includes(size) ? (size as ImageSize) : undefined;
  const count = gc?.candidateCount;
  const outputImages = typeof count === 'number' && Number.isInteger(count) && count > 1 ? Math.min(count, 8) : 1;
  const max = gc?.maxOutputTokens;
  const maxOutputTokens = typeof max === 'number' && Number.isInteger(max) && max >= 0 ? max : undefined;
  return {
    inputTokens: textTokens + inputImages * model.inputTokensPerImage,
    inputImages,
    outputImages,
    imageSize,
    ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
    ...(signatures ? { signatures } : {}),
  };
}
