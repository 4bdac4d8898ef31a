import { GatewayError } from '../../errors/gateway-error.js';
import type { ImageSize, ModelSpec } from '../../models/catalog.js';
import { typeName } from './param-errors.js';

/** Gemini's `imageConfig` as the OpenAI face sets it: only the keys a request decided. */
export interface MappedImageConfig {
  aspectRatio?: string;
  imageSize?: ImageSize;
}

type Pixels = readonly [width: number, height: number];

interface RatioPixels {
  /** 2.5 Flash has its own, slightly smaller, ~1K sizes and no size option. */
  flash25?: Pixels;
  /** 3 Pro and 3.1 Flash at 1K; 2K and 4K are exact doublings (google-api.md §2). */
  oneK: Pixels;
}

/**
 * Output pixel sizes per aspect ratio (google-api.md §2, "Output pixel sizes"). 1:4, 4:1, 1:8
 * and 8:1 exist on 3.1 Flash only; their 2K/4K are taken as doublings like every other row
 * (the reference marks them unverified).
 */
const OUTPUT_PIXELS: Readonly<Record<string, RatioPixels>> = {
  '1:1': { flash25: [1024, 1024], oneK: [1024, 1024] },
  '2:3': { flash25: [832, 1248], oneK: [848, 1264] },
  '3:2': { flash25: [1248, 832], oneK: [1264, 848] },
  '3:4': { flash25: [864, 1184], oneK: [896, 1200] },
  '4:3': { flash25: [1184, 864], oneK: [1200, 896] },
  '4:5': { flash25: [896, 1152], oneK: [928, 1152] },
  '5:4': { flash25: [1152, 896], oneK: [1152, 928] },
  '9:16': { flash25: [768, 1344], oneK: [768, 1376] },
  '16:9': { flash25: [1344, 768], oneK: [1376, 768] },
  '21:9': { flash25: [1536, 672], oneK: [1584, 672] },
  '1:4': { oneK: [512, 2064] },
  '4:1': { oneK: [2064, 512] },
  '1:8': { oneK: [352, 2928] },
  '8:1': { oneK: [2928, 352] },
};

/** Per-side scale of each size relative to 1K. `512` is half of 1K per side (unverified, §2). */
const SCALE: Readonly<Record<ImageSize, number>> = { '512': 0.5, '1K': 1, '2K': 2, '4K': 4 };

const SIZE_ORDER: readonly ImageSize[] = ['512', '1K', '2K', '4K'];

const NAMED_SIZE = /^(512|[124]k)$/i;
// Up to five digits a side: anything longer is beyond every model's output and reads as a typo.
const WIDTH_X_HEIGHT = /^([1-9]\d{0,4})x([1-9]\d{0,4})$/i;

/**
 * Width x height Google produces for `aspectRatio` at `imageSize` on `model` (the model's
 * default size when unset), or undefined for a ratio the model lacks.
 */
export function outputPixels(model: ModelSpec, aspectRatio: string, imageSize?: ImageSize): Pixels | undefined {
  const row = OUTPUT_PIXELS[aspectRatio];
  if (!row || !model.aspectRatios.includes(aspectRatio)) return undefined;
  if (model.imageSizes.length === 0) return row.flash25;
  const size = imageSize ?? model.defaultImageSize;
  if (!model.imageSizes.includes(size)) return undefined;
  const scale = SCALE[size];
  return [Math.round(row.oneK[0] * scale), Math.round(row.oneK[1] * scale)];
}

function ratioValue(ratio: string): number {
  const [w, h] = ratio.split(':').map(Number);
  return (w ?? 1) / (h ?? 1);
}

/** The model's ratio nearest to width/height, by distance of log-ratios (so 2:1 and 1:2 are equally far from 1:1). */
function nearestRatio(model: ModelSpec, width: number, height: number): string {
  const wanted = Math.log(width / height);
  let best = model.aspectRatios[0] ?? '1:1';
  let bestDistance = Infinity;
  for (const ratio of model.aspectRatios) {
    const distance = Math.abs(Math.log(ratioValue(ratio)) - wanted);
    if (distance < bestDistance) {
      best = ratio;
      bestDistance = distance;
    }
  }
  return best;
}

function pixelCount(p: Pixels): number {
  return p[0] * p[1];
}

/**
 * A WxH request may ask for at most this many times the pixels of the largest image the model
 * makes at its ratio. Every standard OpenAI size is within 1.8x of a 1K image (1792x1024 against
 * 16:9's 1376x768), so they all work on a 1K-only model; 2048x2048 from a 1K-only model would
 * be a quarter of what was asked, and is refused rather than shrunk silently.
 */
const MAX_SHORTFALL = 2;


function quote(values: readonly string[]): string {
  return values.map((v) => `'${v}'`).join(', ');
}

function invalidSize(model: ModelSpec, value: string): GatewayError {
  const named = model.imageSizes.length === 0 ? ['1K'] : model.imageSizes;
  const largest = model.aspectRatios
    .map((r) => outputPixels(model, r, model.imageSizes.at(-1)))
    .filter((p): p is Pixels => p !== undefined)
    .map((p) => `${p[0]}x${p[1]}`);
  return new GatewayError(
    'INVALID_ARGUMENT',
    `Invalid value: '${value}'. Supported values are: ${quote(['auto', ...named])}, or 'WIDTHxHEIGHT' of at most twice the pixels of ` +
      `${model.id}'s largest output at the nearest aspect ratio (${largest.join(', ')}).`,
    { param: 'size' },
  );
}

function invalidRatio(model: ModelSpec, value: string): GatewayError {
  return new GatewayError(
    'INVALID_ARGUMENT',
    `Invalid value: '${value}'. Supported values are: ${quote(['auto', ...model.aspectRatios])}.`,
    { param: 'aspect_ratio' },
  );
}

function invalidType(param: string, value: unknown): GatewayError {
  return new GatewayError('INVALID_ARGUMENT', `Invalid type for '${param}': expected a string, but got ${typeName(value)} instead.`, { param });
}

/**
 * The size of `model` whose pixel count at `ratio` is nearest `wantedPixels` (a tie goes to the
 * smaller, cheaper one): 1536x1024 (1.57 MP) on a 1K/2K/4K model is 1K (3:2 at 1K: 1264x848,
 * 1.07 MP; at 2K: 4.29 MP). Undefined when even the largest falls short by more than MAX_SHORTFALL.
 */
function nearestSize(model: ModelSpec, ratio: string, wantedPixels: number): ImageSize | undefined {
  let best: ImageSize | undefined;
  let bestDistance = Infinity;
  let largest = 0;
  for (const size of SIZE_ORDER) {
    if (!model.imageSizes.includes(size)) continue;
    const pixels = outputPixels(model, ratio, size);
    if (!pixels) continue;
    largest = Math.max(largest, pixelCount(pixels));
    const distance = Math.abs(pixelCount(pixels) - wantedPixels);
    if (distance < bestDistance) {
      best = size;
      bestDistance = distance;
    }
  }
  return wantedPixels > largest * MAX_SHORTFALL ? undefined : best;
}

/** OpenAI's `quality` values (openai-images.md §2): gpt-image's and DALL·E 3's. */
export const QUALITIES = ['low', 'medium', 'high', 'auto', 'standard', 'hd'] as const;
export type Quality = (typeof QUALITIES)[number];

/** The image size a quality asks for where the size does not say (contract §6). */
const QUALITY_SIZE: Readonly<Record<Exclude<Quality, 'auto'>, ImageSize | 'smallest'>> = {
  low: 'smallest',
  medium: '1K',
  standard: '1K',
  high: '2K',
  hd: '2K',
};

/** `quality` as a model's image size: the size it names, or the model's nearest one to it (a hint, never refused). */
function sizeForQuality(model: ModelSpec, quality: Quality): ImageSize | undefined {
  if (quality === 'auto' || model.imageSizes.length === 0) return undefined;
  const wanted = QUALITY_SIZE[quality];
  if (wanted === 'smallest') return model.imageSizes[0];
  const at = SIZE_ORDER.indexOf(wanted);
  let best: ImageSize | undefined;
  for (const size of model.imageSizes) {
    if (best === undefined || Math.abs(SIZE_ORDER.indexOf(size) - at) < Math.abs(SIZE_ORDER.indexOf(best) - at)) best = size;
  }
  return best;
}

function parseQuality(value: unknown): Quality | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidType('quality', value);
  if (!(QUALITIES as readonly string[]).includes(value)) {
    throw new GatewayError('INVALID_ARGUMENT', `Invalid value: '${value}'. Supported values are: ${quote(QUALITIES)}.`, { param: 'quality' });
  }
  return value as Quality;
}

/**
 * OpenAI's `size`, `quality` (and nanogate's `aspect_ratio`) to Gemini's `imageConfig`
 * (contract §6). A `WxH` size goes to the nearest aspect ratio the model makes and to the image
 * size whose pixels are nearest the request's, so a standard OpenAI size costs what its pixels
 * are worth (1536x1024 is 1K, not 2K at +50%). A request far beyond the model's largest output
 * is a 400 naming `size`, never shrunk silently: a client that asked for 4096x4096 from a
 * 1K-only model must not get 1024x1024. 2.5 Flash has one (~1K) size per ratio, so only the
 * ratio reaches Google. An explicit `aspect_ratio` wins over the ratio of a WxH size; the WxH
 * then only picks the size. `quality` picks the size where `size` does not (absent or `auto`):
 * low the model's smallest, medium and standard 1K, high and hd 2K (or the model's nearest).
 */
export function mapSize(model: ModelSpec, input: { size?: unknown; aspect_ratio?: unknown; quality?: unknown }): MappedImageConfig {
  const out: MappedImageConfig = {};
  const quality = parseQuality(input.quality);
  const byQuality = () => {
    const size = quality ? sizeForQuality(model, quality) : undefined;
    if (size !== undefined) out.imageSize = size;
    return out;
  };

  const ratioInput = input.aspect_ratio;
  if (ratioInput !== undefined && ratioInput !== null) {
    if (typeof ratioInput !== 'string') throw invalidType('aspect_ratio', ratioInput);
    if (ratioInput !== 'auto') {
      if (!model.aspectRatios.includes(ratioInput)) throw invalidRatio(model, ratioInput);
      out.aspectRatio = ratioInput;
    }
  }

  const sizeInput = input.size;
  if (sizeInput === undefined || sizeInput === null) return byQuality();
  if (typeof sizeInput !== 'string') throw invalidType('size', sizeInput);
  if (sizeInput === 'auto') return byQuality();

  if (NAMED_SIZE.test(sizeInput)) {
    // Google rejects "1k"; clients of an OpenAI-shaped API cannot know that, so case is forgiven here.
    const size = sizeInput.toUpperCase() as ImageSize;
    if (model.imageSizes.length === 0) {
      if (size !== '1K') throw invalidSize(model, sizeInput);
      return out;
    }
    if (!model.imageSizes.includes(size)) throw invalidSize(model, sizeInput);
    out.imageSize = size;
    return out;
  }

  const m = WIDTH_X_HEIGHT.exec(sizeInput);
  if (!m) throw invalidSize(model, sizeInput);
  const width = Number(m[1]);
  const height = Number(m[2]);
  const ratio = out.aspectRatio ?? nearestRatio(model, width, height);
  const wanted = width * height;

  if (model.imageSizes.length === 0) {
    const pixels = outputPixels(model, ratio);
    if (!pixels || wanted > pixelCount(pixels) * MAX_SHORTFALL) throw invalidSize(model, sizeInput);
    out.aspectRatio = ratio;
    return out;
  }
  const size = nearestSize(model, ratio, wanted);
  if (!size) throw invalidSize(model, sizeInput);
  out.aspectRatio = ratio;
  out.imageSize = size;
  return out;
}

/**
 * The `size` an answer reports ("1264x848"): the pixels Google makes for the mapped ratio and
 * size, or "auto" when the ratio is Google's to choose (it follows the input image).
 */
export function describeSize(model: ModelSpec, config: MappedImageConfig): string {
  if (config.aspectRatio === undefined) return 'auto';
  const pixels = outputPixels(model, config.aspectRatio, config.imageSize);
  return pixels ? `${pixels[0]}x${pixels[1]}` : 'auto';
}
