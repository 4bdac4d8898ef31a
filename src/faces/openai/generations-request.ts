import { GatewayError } from '../../errors/gateway-error.js';
import type { ModelSpec } from '../../models/catalog.js';
import { OUTPUT_FORMATS, type ImageOutputOptions, type OutputFormat } from './image-output.js';
import { mapSize, type MappedImageConfig } from './size-mapping.js';
import { invalidParam as invalid, missingParam as missing, typeName, wrongTypeParam as wrongType } from './param-errors.js';

export interface GenerationsRequest {
  /** The name the client sent (or the default model): recorded with the usage. */
  modelAsked: string;
  model: ModelSpec;
  prompt: string;
  /** Upstream calls to make, one image each (contract §6). */
  n: number;
  imageConfig: MappedImageConfig;
  user?: string;
  /** `url`: the image is stored and a signed gateway URL answers (#14.4). */
  responseFormat: 'b64_json' | 'url';
  /** SSE with image_generation.* (image_edit.* on edits) events (#14.3). */
  stream: boolean;
  /** Interim images to send as partial_image events when streaming (0-3). */
  partialImages: number;
  /** The format and compression the client wants; converted where Google's differs. */
  output: ImageOutputOptions;
  /** As the client sent them, for the answer's echo (OpenAI's `quality`, `background`). */
  quality?: string;
  background?: string;
}

export interface ParseOptions {
  resolve: (name: string) => ModelSpec | undefined;
  defaultModel: string;
  /** Listed in the model_not_found message (contract §4). */
  servedModels: readonly string[];
}

const MAX_N = 10;

/**
 * Where field values come from. JSON bodies carry typed values; multipart forms carry only
 * strings, which the OpenAI SDK writes for numbers and booleans (`n` = "2", `stream` = "false").
 */
export type FieldSource = 'json' | 'form';



function isAbsent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

function parsePrompt(value: unknown): string {
  if (isAbsent(value)) throw missing('prompt');
  if (typeof value !== 'string') throw wrongType('prompt', 'a string', value);
  if (value.trim() === '') throw invalid('prompt', "Invalid 'prompt': string too short. Expected a string with minimum length 1, but got an empty string instead.");
  return value;
}

function parseN(value: unknown, source: FieldSource): number {
  if (isAbsent(value)) return 1;
  let n: number;
  if (typeof value === 'number') n = value;
  else if (source === 'form' && typeof value === 'string' && /^\d{1,3}$/.test(value.trim())) n = Number(value.trim());
  else throw wrongType('n', 'an integer', value);
  if (!Number.isInteger(n)) throw wrongType('n', 'an integer', value);
  if (n < 1) throw invalid('n', `Invalid 'n': integer below minimum value. Expected a value >= 1, but got ${n} instead.`);
  if (n > MAX_N) throw invalid('n', `Invalid 'n': integer above maximum value. Expected a value <= ${MAX_N}, but got ${n} instead.`);
  return n;
}

function parseModel(value: unknown, opts: ParseOptions): { modelAsked: string; model: ModelSpec } {
  if (isAbsent(value)) {
    const model = opts.resolve(opts.defaultModel);
    if (!model) throw modelNotFound(opts.defaultModel, opts);
    return { modelAsked: opts.defaultModel, model };
  }
  if (typeof value !== 'string') throw wrongType('model', 'a string', value);
  const model = opts.resolve(value);
  if (!model) throw modelNotFound(value, opts);
  return { modelAsked: value, model };
}

function modelNotFound(name: string, opts: ParseOptions): GatewayError {
  return new GatewayError(
    'MODEL_NOT_FOUND',
    `The model \`${name}\` does not exist or you do not have access to it. Served models: ${opts.servedModels.join(', ')}.`,
    { param: 'model', servedModels: opts.servedModels },
  );
}

function parseResponseFormat(value: unknown): 'b64_json' | 'url' {
  if (isAbsent(value) || value === 'b64_json') return 'b64_json';
  if (typeof value !== 'string') throw wrongType('response_format', 'a string', value);
  if (value === 'url') return 'url';
  throw invalid('response_format', `Invalid value: '${value}'. Supported values are: 'b64_json' and 'url'.`);
}

function parseUser(value: unknown): string | undefined {
  if (isAbsent(value)) return undefined;
  if (typeof value !== 'string') throw wrongType('user', 'a string', value);
  return value;
}

function parseStream(value: unknown, source: FieldSource): boolean {
  if (isAbsent(value)) return false;
  if (typeof value === 'boolean') return value;
  if (source === 'form' && (value === 'true' || value === 'false')) return value === 'true';
  throw wrongType('stream', 'a boolean', value);
}

/** An integer field within [min, max]; forms carry it as digits. */
function parseBoundedInt(param: string, value: unknown, source: FieldSource, min: number, max: number): number | undefined {
  if (isAbsent(value)) return undefined;
  let n: number;
  if (typeof value === 'number') n = value;
  else if (source === 'form' && typeof value === 'string' && /^\d{1,3}$/.test(value.trim())) n = Number(value.trim());
  else throw wrongType(param, 'an integer', value);
  if (!Number.isInteger(n)) throw wrongType(param, 'an integer', value);
  if (n < min) throw invalid(param, `Invalid '${param}': integer below minimum value. Expected a value >= ${min}, but got ${n} instead.`);
  if (n > max) throw invalid(param, `Invalid '${param}': integer above maximum value. Expected a value <= ${max}, but got ${n} instead.`);
  return n;
}

function parseOutputFormat(value: unknown): OutputFormat | undefined {
  if (isAbsent(value)) return undefined;
  if (typeof value !== 'string') throw wrongType('output_format', 'a string', value);
  if (!(OUTPUT_FORMATS as readonly string[]).includes(value)) {
    throw invalid('output_format', `Invalid value: '${value}'. Supported values are: ${OUTPUT_FORMATS.map((f) => `'${f}'`).join(', ')}.`);
  }
  return value as OutputFormat;
}

/**
 * OpenAI's `background`. Gemini's images have no alpha channel and no model takes a
 * transparency option, so `transparent` cannot be honoured: a 400 rather than an opaque image
 * the client would composite as if it were cut out.
 */
export function parseBackground(value: unknown): string | undefined {
  if (isAbsent(value)) return undefined;
  if (typeof value !== 'string') throw wrongType('background', 'a string', value);
  if (value === 'transparent') {
    throw invalid(
      'background',
      "Invalid value: 'transparent'. Transparent backgrounds are not supported: Gemini image models make opaque images only. Use 'opaque' or 'auto', or remove the background afterwards.",
    );
  }
  if (value !== 'opaque' && value !== 'auto') throw invalid('background', `Invalid value: '${value}'. Supported values are: 'opaque', 'auto'.`);
  return value;
}

/** `output_format` and `output_compression` (0-100, jpeg and webp only, as OpenAI has it). */
export function parseOutputOptions(fields: Readonly<Record<string, unknown>>, source: FieldSource): ImageOutputOptions {
  const format = parseOutputFormat(fields['output_format']);
  const compression = parseBoundedInt('output_compression', fields['output_compression'], source, 0, 100);
  return { ...(format !== undefined ? { format } : {}), ...(compression !== undefined ? { compression } : {}) };
}

/**
 * Reads the fields generations and edits share. `size` and `quality` choose Gemini's image
 * size (size-mapping.ts); `output_format`/`output_compression` are honoured by converting the
 * image; `background: transparent` is refused. Unknown fields and the OpenAI knobs Gemini has
 * no equivalent for (`style`, `moderation`, `input_fidelity`) are ignored: the SDK sends
 * whatever its caller passed, and a client written for a newer OpenAI API must still get an
 * image rather than a 400 for a field Gemini cannot act on.
 */
export function parseImageFields(fields: Readonly<Record<string, unknown>>, opts: ParseOptions, source: FieldSource): GenerationsRequest {
  const prompt = parsePrompt(fields['prompt']);
  const { modelAsked, model } = parseModel(fields['model'], opts);
  const n = parseN(fields['n'], source);
  const imageConfig = mapSize(model, { size: fields['size'], aspect_ratio: fields['aspect_ratio'], quality: fields['quality'] });
  const responseFormat = parseResponseFormat(fields['response_format']);
  const user = parseUser(fields['user']);
  const stream = parseStream(fields['stream'], source);
  const partialImages = parseBoundedInt('partial_images', fields['partial_images'], source, 0, 3) ?? 0;
  const output = parseOutputOptions(fields, source);
  const background = parseBackground(fields['background']);
  const quality = typeof fields['quality'] === 'string' ? fields['quality'] : undefined;
  if (stream && responseFormat === 'url') {
    throw invalid('response_format', "Invalid value: 'url'. Streamed images arrive as base64 (b64_json) events; omit response_format or stop streaming.");
  }
  return {
    modelAsked,
    model,
    prompt,
    n,
    imageConfig,
    ...(user !== undefined ? { user } : {}),
    responseFormat,
    stream,
    partialImages,
    output,
    ...(quality !== undefined ? { quality } : {}),
    ...(background !== undefined ? { background } : {}),
  };
}

/** `POST /v1/images/generations` body (already JSON-parsed) to a typed request (contract §6). */
export function parseGenerationsBody(body: unknown, opts: ParseOptions): GenerationsRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GatewayError('INVALID_ARGUMENT', 'The request body must be a JSON object.');
  }
  return parseImageFields(body as Record<string, unknown>, opts, 'json');
}

export interface GeminiImageRequest {
  prompt: string;
  /** Base64 produced by the gateway itself (Buffer#toString('base64')): inlined without escaping. */
  images?: ReadonlyArray<{ mimeType: string; base64: string }>;
  imageConfig: MappedImageConfig;
}

/**
 * The generateContent body for one image. Built from pieces rather than JSON.stringify so the
 * reference images (up to 14, tens of MB) are copied once into the body instead of being
 * assembled into one big string first.
 *
 * responseModalities is ["IMAGE"], not Google's default ["TEXT","IMAGE"]: an OpenAI client
 * asked for an image and has no use for commentary, and with TEXT allowed Gemini sometimes
 * answers with text alone (a question back, a refusal to draw), which this face can only turn
 * into an error. Text parts that still come back become `revised_prompt`.
 */
export function buildGeminiRequest(req: GeminiImageRequest): Buffer {
  const generationConfig: Record<string, unknown> = { responseModalities: ['IMAGE'] };
  const imageConfig: MappedImageConfig = {};
  if (req.imageConfig.aspectRatio !== undefined) imageConfig.aspectRatio = req.imageConfig.aspectRatio;
  if (req.imageConfig.imageSize !== undefined) imageConfig.imageSize = req.imageConfig.imageSize;
  if (Object.keys(imageConfig).length > 0) generationConfig['imageConfig'] = imageConfig;

  // The pieces are strings; each is written once into a body allocated at its final size.
  const pieces: Array<{ text: string; encoding: 'utf8' | 'latin1' }> = [{ text: `{"contents":[{"role":"user","parts":[{"text":${JSON.stringify(req.prompt)}}`, encoding: 'utf8' }];
  for (const image of req.images ?? []) {
    pieces.push({ text: `,{"inlineData":{"mimeType":${JSON.stringify(image.mimeType)},"data":"`, encoding: 'utf8' });
    // Base64 is ASCII: latin1 writes it byte for byte, without UTF-8's scan.
    pieces.push({ text: image.base64, encoding: 'latin1' });
    pieces.push({ text: '"}}', encoding: 'utf8' });
  }
  pieces.push({ text: `]}],"generationConfig":${JSON.stringify(generationConfig)}}`, encoding: 'utf8' });
  let size = 0;
  for (const p of pieces) size += p.encoding === 'latin1' ? p.text.length : Buffer.byteLength(p.text);
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  for (const p of pieces) at += body.write(p.text, at, p.encoding);
  return body;
}
