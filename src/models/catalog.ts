/**
 * The one model table. Routing, quota and pricing all read it, so an alias can never be
 * priced or limited differently from its canonical model. Facts: reference/google-api.md §2,
 * reference/pricing.md §2.
 */
export type ImageSize = '512' | '1K' | '2K' | '4K';

export type ModelFamily = 'pro-image' | 'flash-3.1-image' | 'flash-2.5-image';

export interface ModelSpec {
  /** Canonical Google model id: what Google always sees. */
  readonly id: string;
  readonly family: ModelFamily;
  readonly displayName: string;
  readonly version: string;
  readonly description: string;
  readonly aspectRatios: readonly string[];
  /** `imageSize` values accepted; empty when the model has no size option (always ~1K). */
  readonly imageSizes: readonly ImageSize[];
  /** Size produced when a request names none. */
  readonly defaultImageSize: ImageSize;
  /** Output tokens Google bills per image, by size. */
  readonly outputTokensPerImage: Readonly<Record<ImageSize, number>>;
  /** Input tokens per reference image (an upper bound for 2.5 Flash's 768 px tiles). */
  readonly inputTokensPerImage: number;
  readonly maxReferenceImages: number;
  readonly inputTokenLimit: number;
  readonly outputTokenLimit: number;
  readonly thinking: boolean;
}

const BASE_RATIOS = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'] as const;

const pro = {
  family: 'pro-image',
  displayName: 'Nano Banana Pro',
  description: 'Gemini 3 Pro Image: studio-quality image generation and editing.',
  aspectRatios: BASE_RATIOS,
  imageSizes: ['1K', '2K', '4K'],
  defaultImageSize: '1K',
  // 512 is not a Pro size; the entry keeps the record total and prices it as 1K.
  outputTokensPerImage: { '512': 1120, '1K': 1120, '2K': 1120, '4K': 2000 },
  inputTokensPerImage: 560,
  maxReferenceImages: 14,
  inputTokenLimit: 65536,
  outputTokenLimit: 32768,
  thinking: true,
} as const satisfies Omit<ModelSpec, 'id' | 'version'>;

const flash31 = {
  family: 'flash-3.1-image',
  displayName: 'Nano Banana 2',
  description: 'Gemini 3.1 Flash Image: fast image generation and editing.',
  aspectRatios: [...BASE_RATIOS, '1:4', '4:1', '1:8', '8:1'],
  imageSizes: ['512', '1K', '2K', '4K'],
  defaultImageSize: '1K',
  outputTokensPerImage: { '512': 747, '1K': 1120, '2K': 1680, '4K': 2520 },
  inputTokensPerImage: 1120,
  maxReferenceImages: 14,
  inputTokenLimit: 131072,
  outputTokenLimit: 32768,
  thinking: true,
} as const satisfies Omit<ModelSpec, 'id' | 'version'>;

const flash25 = {
  family: 'flash-2.5-image',
  displayName: 'Nano Banana',
  description: 'Gemini 2.5 Flash Image: image generation and editing.',
  aspectRatios: BASE_RATIOS,
  imageSizes: [],
  defaultImageSize: '1K',
  outputTokensPerImage: { '512': 1290, '1K': 1290, '2K': 1290, '4K': 1290 },
  // Upper bound: a 1536 px image is 2x2 tiles of 258 (reference/limits.md §6).
  inputTokensPerImage: 1032,
  maxReferenceImages: 3,
  inputTokenLimit: 32768,
  outputTokenLimit: 32768,
  thinking: false,
} as const satisfies Omit<ModelSpec, 'id' | 'version'>;

export const MODELS: readonly ModelSpec[] = Object.freeze([
  { id: 'gemini-3-pro-image-preview', version: '3.0', ...pro },
  { id: 'gemini-3.1-flash-image-preview', version: '3.1', ...flash31 },
  { id: 'gemini-2.5-flash-image', version: '2.5', ...flash25 },
  // GA ids (pricing.md, model-ID note): same rows, their own quota buckets at Google.
  { id: 'gemini-3-pro-image', version: '3.0', ...pro },
  { id: 'gemini-3.1-flash-image', version: '3.1', ...flash31 },
]);

/** Built-in nicknames (contract §4). Config aliases add to these or re-point them. */
export const BUILTIN_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  'nano-banana-pro': 'gemini-3-pro-image-preview',
  'nano-banana-2': 'gemini-3.1-flash-image-preview',
  'nano-banana': 'gemini-2.5-flash-image',
});

/** Tokens Google bills for one output image of `size` (the model's default size when unset). */
export function outputTokensForImage(model: ModelSpec, size: ImageSize | undefined): number {
  return model.outputTokensPerImage[size ?? model.defaultImageSize];
}
