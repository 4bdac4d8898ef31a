import { GatewayError } from '../../errors/gateway-error.js';
import type { ImageSize, ModelSpec } from '../../models/catalog.js';

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

function longSide(p: Pixels): number {
  return Math.max(p[0], p[1]);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' && Number.isInteger(value) ? 'an integer' : `a ${typeof value}`;
}

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
    `Invalid value: '${value}'. Supported values are: ${quote(['auto', ...named])}, or 'WIDTHxHEIGHT' no larger than ` +
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

/** The smallest size of `model` whose long side at `ratio` reaches `wantedLongSide`. */
function coveringSize(model: ModelSpec, ratio: string, wantedLongSide: number): ImageSize | undefined {
  for (const size of SIZE_ORDER) {
    if (!model.imageSizes.includes(size)) continue;
    const pixels = outputPixels(model, ratio, size);
    if (pixels && longSide(pixels) >= wantedLongSide) return size;
  }
  return undefined;
}

/**
 * OpenAI's `size` (and nanogate's `aspect_ratio`) to Gemini's `imageConfig` (contract §6).
 * A value the model cannot produce is a 400 naming the parameter, never dropped: a client that
 * asked for 4096x4096 must not silently get 1024x1024. 2.5 Flash has one (~1K) size per ratio,
 * so it takes `1K` and any WxH its output covers, and only the ratio reaches Google.
 * An explicit `aspect_ratio` wins over the ratio of a WxH size; the WxH then only picks the size.
 */
export function mapSize(model: ModelSpec, input: { size?: unknown; aspect_ratio?: unknown }): MappedImageConfig {
  const out: MappedImageConfig = {};

  const ratioInput = input.aspect_ratio;
  if (ratioInput !== undefined && ratioInput !== null) {
    if (typeof ratioInput !== 'string') throw invalidType('aspect_ratio', ratioInput);
    if (ratioInput !== 'auto') {
      if (!model.aspectRatios.includes(ratioInput)) throw invalidRatio(model, ratioInput);
      out.aspectRatio = ratioInput;
    }
  }

  const sizeInput = input.size;
  if (sizeInput === undefined || sizeInput === null) return out;
  if (typeof sizeInput !== 'string') throw invalidType('size', sizeInput);
  if (sizeInput === 'auto') return out;

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
  const wanted = Math.max(width, height);

  if (model.imageSizes.length === 0) {
    const pixels = outputPixels(model, ratio);
    if (!pixels || longSide(pixels) < wanted) throw invalidSize(model, sizeInput);
    out.aspectRatio = ratio;
    return out;
  }
  const size = coveringSize(model, ratio, wanted);
  if (!size) throw invalidSize(model, sizeInput);
  out.aspectRatio = ratio;
  out.imageSize = size;
  return out;
}
