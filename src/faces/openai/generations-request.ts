import { GatewayError } from '../../errors/gateway-error.js';
import type { ModelSpec } from '../../models/catalog.js';
import { mapSize, type MappedImageConfig } from './size-mapping.js';

export interface GenerationsRequest {
  /** The name the client sent (or the default model): recorded with the usage. */
  modelAsked: string;
  model: ModelSpec;
  prompt: string;
  /** Upstream calls to make, one image each (contract §6). */
  n: number;
  imageConfig: MappedImageConfig;
  user?: string;
  responseFormat: 'b64_json';
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

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

// Messages follow OpenAI's phrasing; renderOpenAIError derives `code` from it (errors.ts).
function missing(param: string): GatewayError {
  return new GatewayError('INVALID_ARGUMENT', `Missing required parameter: '${param}'.`, { param });
}

function wrongType(param: string, expected: string, value: unknown): GatewayError {
  return new GatewayError('INVALID_ARGUMENT', `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`, {
    param,
  });
}

function invalid(param: string, message: string): GatewayError {
  return new GatewayError('INVALID_ARGUMENT', message, { param });
}

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

function parseResponseFormat(value: unknown): 'b64_json' {
  if (isAbsent(value) || value === 'b64_json') return 'b64_json';
  if (typeof value !== 'string') throw wrongType('response_format', 'a string', value);
  if (value === 'url') {
    throw invalid(
      'response_format',
      "Invalid value: 'url'. nanogate does not host images, so hosted URLs are not supported: use 'b64_json' (the default).",
    );
  }
  throw invalid('response_format', `Invalid value: '${value}'. Supported values are: 'b64_json'.`);
}

function parseUser(value: unknown): string | undefined {
  if (isAbsent(value)) return undefined;
  if (typeof value !== 'string') throw wrongType('user', 'a string', value);
  return value;
}

function parseStream(value: unknown, source: FieldSource): void {
  if (isAbsent(value)) return;
  let stream: boolean;
  if (typeof value === 'boolean') stream = value;
  else if (source === 'form' && (value === 'true' || value === 'false')) stream = value === 'true';
  else throw wrongType('stream', 'a boolean', value);
  // Gemini image answers arrive whole (one inlineData part), so there are no partial images to stream.
  if (stream) throw invalid('stream', "Invalid value: true. Streaming ('stream': true) is not supported for images; omit it or send false.");
}

/**
 * Reads the fields generations and edits share. Unknown fields and the OpenAI-only knobs
 * Gemini has no equivalent for (`quality`, `style`, `background`, `output_format`,
 * `output_compression`, `moderation`, `partial_images`, `input_fidelity`) are ignored: the
 * SDK sends whatever its caller passed, and a client written for a newer OpenAI API must
 * still get an image rather than a 400 for a field Gemini cannot act on.
 */
export function parseImageFields(fields: Readonly<Record<string, unknown>>, opts: ParseOptions, source: FieldSource): GenerationsRequest {
  const prompt = parsePrompt(fields['prompt']);
  const { modelAsked, model } = parseModel(fields['model'], opts);
  const n = parseN(fields['n'], source);
  const imageConfig = mapSize(model, { size: fields['size'], aspect_ratio: fields['aspect_ratio'] });
  const responseFormat = parseResponseFormat(fields['response_format']);
  const user = parseUser(fields['user']);
  parseStream(fields['stream'], source);
  return { modelAsked, model, prompt, n, imageConfig, ...(user !== undefined ? { user } : {}), responseFormat };
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

  const pieces: Buffer[] = [Buffer.from(`{"contents":[{"role":"user","parts":[{"text":${JSON.stringify(req.prompt)}}`)];
  for (const image of req.images ?? []) {
    pieces.push(Buffer.from(`,{"inlineData":{"mimeType":${JSON.stringify(image.mimeType)},"data":"`));
    pieces.push(Buffer.from(image.base64, 'latin1'));
    pieces.push(Buffer.from('"}}'));
  }
  pieces.push(Buffer.from(`]}],"generationConfig":${JSON.stringify(generationConfig)}}`));
  return Buffer.concat(pieces);
}
