/**
 * `POST /v1/chat/completions` for image models (#14.1): OpenAI's chat messages, with the
 * conventions OpenRouter, LiteLLM and Vercel's AI Gateway use for Gemini images (`modalities`,
 * `image_config`, assistant `images`, `reasoning_details`), to a Gemini generateContent body.
 */
import { GatewayError } from '../../errors/gateway-error.js';
import { estimateRequest, type RequestEstimate } from '../../gemini/request-inspect.js';
import type { ModelSpec } from '../../models/catalog.js';
import { encodeGeminiBody, type Turn, type TurnPart } from './gemini-body.js';
import type { ParseOptions } from './generations-request.js';
import { resolveImageUrl, type ImageUrlPolicy } from './image-inputs.js';
import { mapSize, type MappedImageConfig } from './size-mapping.js';
import { invalidParam as invalid, wrongTypeParam as wrongType } from './param-errors.js';

/** `reasoning_details[].format` of the signatures this face hands out (OpenRouter's name for Gemini's). */
export const SIGNATURE_FORMAT = 'google-gemini-v1';

/** A part before its image URLs are resolved. */
type PendingPart = { text: string; thoughtSignature?: string } | { imageUrl: string; param: string; thoughtSignature?: string };

interface PendingTurn {
  role: 'user' | 'model';
  parts: PendingPart[];
}

export interface ChatRequest {
  modelAsked: string;
  model: ModelSpec;
  n: number;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with usage before [DONE]. */
  includeUsage: boolean;
  user?: string;
  system?: string;
  turns: PendingTurn[];
  generationConfig: Record<string, unknown>;
  imageConfig: MappedImageConfig;
  /** Whether the answer may hold an image (modalities). */
  wantImage: boolean;
  maxOutputTokens?: number;
}

const MAX_N = 10;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function absent(v: unknown): v is undefined | null {
  return v === undefined || v === null;
}


function optionalInt(param: string, value: unknown, min: number, max: number): number | undefined {
  if (absent(value)) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw wrongType(param, 'an integer', value);
  if (value < min) throw invalid(param, `Invalid '${param}': integer below minimum value. Expected a value >= ${min}, but got ${value} instead.`);
  if (value > max) throw invalid(param, `Invalid '${param}': integer above maximum value. Expected a value <= ${max}, but got ${value} instead.`);
  return value;
}

function optionalNumber(param: string, value: unknown): number | undefined {
  if (absent(value)) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw wrongType(param, 'a number', value);
  return value;
}

export function resolveModel(value: unknown, opts: ParseOptions, param = 'model'): { modelAsked: string; model: ModelSpec } {
  const name = absent(value) ? opts.defaultModel : value;
  if (typeof name !== 'string') throw wrongType(param, 'a string', value);
  const model = opts.resolve(name);
  if (!model) {
    throw new GatewayError('MODEL_NOT_FOUND', `The model \`${name}\` does not exist or you do not have access to it. Served models: ${opts.servedModels.join(', ')}.`, {
      param,
      servedModels: opts.servedModels,
    });
  }
  return { modelAsked: name, model };
}

/** Text of a system/developer message: a string or text parts. */
function plainText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw wrongType(param, 'a string or an array of content parts', content);
  return content
    .map((part, i) => {
      if (!isObject(part) || (part['type'] !== 'text' && part['type'] !== 'input_text') || typeof part['text'] !== 'string') {
        throw invalid(`${param}[${i}]`, `Invalid content part at '${param}[${i}]': only text parts are allowed here.`);
      }
      return part['text'];
    })
    .join('\n');
}

/** `image_url` as OpenAI has it (`{url}`) or as some clients send it (a bare string). */
function imageUrlOf(part: Json, param: string): string {
  const value = part['image_url'];
  const url = typeof value === 'string' ? value : isObject(value) ? value['url'] : undefined;
  if (typeof url !== 'string' || url === '') throw invalid(`${param}.image_url`, `Missing required parameter: '${param}.image_url.url'.`);
  return url;
}

/** A user (or assistant) message's content: a string, or text and image_url parts. */
function contentParts(content: unknown, param: string): PendingPart[] {
  if (absent(content)) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) throw wrongType(param, 'a string or an array of content parts', content);
  return content.map((part, i): PendingPart => {
    const at = `${param}[${i}]`;
    if (!isObject(part)) throw wrongType(at, 'an object', part);
    switch (part['type']) {
      case 'text':
      case 'input_text':
      case 'output_text':
        if (typeof part['text'] !== 'string') throw wrongType(`${at}.text`, 'a string', part['text']);
        return { text: part['text'] };
      case 'image_url':
        return { imageUrl: imageUrlOf(part, at), param: `${at}.image_url` };
      default:
        throw invalid(
          `${at}.type`,
          `Invalid value: '${String(part['type'])}' at '${at}.type'. Image models take 'text' and 'image_url' content parts.`,
        );
    }
  });
}

/**
 * Signatures an assistant message hands back (this face's `reasoning_details`, OpenRouter's
 * shape): `reasoning.encrypted` entries whose `id` names the part they sign, `text-<i>` or
 * `image-<i>`. Entries of other types or formats (a client's own reasoning text) are ignored.
 */
function signaturesOf(details: unknown, param: string): Map<string, string> {
  const out = new Map<string, string>();
  if (absent(details)) return out;
  if (!Array.isArray(details)) throw wrongType(param, 'an array', details);
  for (const d of details) {
    if (!isObject(d) || d['type'] !== 'reasoning.encrypted' || typeof d['data'] !== 'string') continue;
    if (d['format'] !== undefined && d['format'] !== SIGNATURE_FORMAT) continue;
    if (typeof d['id'] === 'string' && /^(text|image)-\d+$/.test(d['id'])) out.set(d['id'], d['data']);
  }
  return out;
}

/**
 * An earlier assistant message as Gemini's model turn: its text, then its images (OpenRouter's
 * `images`, or image_url parts in its content), each with the thought signature Google gave it,
 * as Gemini 3 Pro Image needs for multi-turn edits (google-api.md §3). Without signatures the
 * turn still goes as the model's: Gemini 3 Pro Image does not refuse that, it only loses the
 * earlier turn's reasoning.
 */
function assistantTurn(message: Json, param: string): PendingTurn {
  const signatures = signaturesOf(message['reasoning_details'], `${param}.reasoning_details`);
  const content = contentParts(message['content'], `${param}.content`);
  const text = content.flatMap((p) => ('text' in p ? [p.text] : [])).join('');
  const images: Array<{ url: string; param: string }> = content.flatMap((p) => ('imageUrl' in p ? [{ url: p.imageUrl, param: p.param }] : []));
  const listed = message['images'];
  if (!absent(listed)) {
    if (!Array.isArray(listed)) throw wrongType(`${param}.images`, 'an array', listed);
    listed.forEach((image, i) => {
      if (!isObject(image)) throw wrongType(`${param}.images[${i}]`, 'an object', image);
      images.push({ url: imageUrlOf(image, `${param}.images[${i}]`), param: `${param}.images[${i}].image_url` });
    });
  }
  const parts: PendingPart[] = [];
  const sign = (id: string) => (signatures.has(id) ? { thoughtSignature: signatures.get(id)! } : {});
  if (text !== '') parts.push({ text, ...sign('text-0') });
  images.forEach((image, i) => parts.push({ imageUrl: image.url, param: image.param, ...sign(`image-${i}`) }));
  return { role: 'model', parts };
}

function parseModalities(value: unknown): { wantImage: boolean; responseModalities: string[] } {
  if (absent(value)) return { wantImage: true, responseModalities: ['TEXT', 'IMAGE'] };
  if (!Array.isArray(value) || value.some((m) => typeof m !== 'string')) throw wrongType('modalities', 'an array of strings', value);
  const named = new Set((value as string[]).map((m) => m.toLowerCase()));
  for (const m of named) {
    if (m !== 'text' && m !== 'image') throw invalid('modalities', `Invalid value: '${m}'. Supported values are: 'text', 'image'.`);
  }
  if (named.size === 0) throw invalid('modalities', "Invalid 'modalities': empty array. Expected 'image', 'text' or both.");
  const responseModalities = [...(named.has('text') ? ['TEXT'] : []), ...(named.has('image') ? ['IMAGE'] : [])];
  return { wantImage: named.has('image'), responseModalities };
}

function parseStop(value: unknown): string[] | undefined {
  if (absent(value)) return undefined;
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((s) => typeof s === 'string') && value.length <= 4) return value as string[];
  throw wrongType('stop', 'a string or an array of up to 4 strings', value);
}

/** The chat request's fields, checked; image URLs are resolved later (resolveChatTurns). */
export function parseChatBody(body: unknown, opts: ParseOptions): ChatRequest {
  if (!isObject(body)) throw new GatewayError('INVALID_ARGUMENT', 'The request body must be a JSON object.');
  const { modelAsked, model } = resolveModel(body['model'], opts);
  const messages = body['messages'];
  if (absent(messages)) throw invalid('messages', "Missing required parameter: 'messages'.");
  if (!Array.isArray(messages)) throw wrongType('messages', 'an array', messages);
  if (messages.length === 0) throw invalid('messages', "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.");

  const system: string[] = [];
  const turns: PendingTurn[] = [];
  const push = (turn: PendingTurn) => {
    if (turn.parts.length === 0) return;
    const last = turns[turns.length - 1];
    // Gemini's turns alternate: consecutive messages of one role become one turn.
    if (last && last.role === turn.role) last.parts.push(...turn.parts);
    else turns.push(turn);
  };
  messages.forEach((message, i) => {
    const param = `messages[${i}]`;
    if (!isObject(message)) throw wrongType(param, 'an object', message);
    const role = message['role'];
    switch (role) {
      case 'system':
      case 'developer':
        system.push(plainText(message['content'], `${param}.content`));
        break;
      case 'user':
        push({ role: 'user', parts: contentParts(message['content'], `${param}.content`) });
        break;
      case 'assistant':
        push(assistantTurn(message, param));
        break;
      default:
        throw invalid(
          `${param}.role`,
          `Invalid value: '${String(role)}' at '${param}.role'. Image models take 'system', 'developer', 'user' and 'assistant' messages (no tools).`,
        );
    }
  });
  if (turns.length === 0 || turns[turns.length - 1]!.role !== 'user') {
    throw invalid('messages', "Invalid 'messages': the last message must be the user's, with text or an image.");
  }
  const images = turns.reduce((n, t) => n + t.parts.filter((p) => 'imageUrl' in p).length, 0);
  if (images > model.maxReferenceImages) {
    throw invalid('messages', `Invalid 'messages': too many images. ${model.id} accepts at most ${model.maxReferenceImages} images in a request, but got ${images}.`);
  }

  const n = optionalInt('n', body['n'], 1, MAX_N) ?? 1;
  const stream = body['stream'];
  if (!absent(stream) && typeof stream !== 'boolean') throw wrongType('stream', 'a boolean', stream);
  const streamOptions = body['stream_options'];
  if (!absent(streamOptions) && !isObject(streamOptions)) throw wrongType('stream_options', 'an object', streamOptions);
  const user = body['user'];
  if (!absent(user) && typeof user !== 'string') throw wrongType('user', 'a string', user);

  const { wantImage, responseModalities } = parseModalities(body['modalities']);
  const config = body['image_config'];
  if (!absent(config) && !isObject(config)) throw wrongType('image_config', 'an object', config);
  const imageConfig = mapSize(model, {
    size: isObject(config) ? config['image_size'] : undefined,
    aspect_ratio: isObject(config) ? config['aspect_ratio'] : undefined,
  });
  const maxOutputTokens = optionalInt('max_completion_tokens', body['max_completion_tokens'], 1, model.outputTokenLimit) ?? optionalInt('max_tokens', body['max_tokens'], 1, model.outputTokenLimit);
  const temperature = optionalNumber('temperature', body['temperature']);
  const topP = optionalNumber('top_p', body['top_p']);
  const seed = optionalInt('seed', body['seed'], -(2 ** 31), 2 ** 31 - 1);
  const stop = parseStop(body['stop']);

  const generationConfig: Record<string, unknown> = { responseModalities };
  if (wantImage && Object.keys(imageConfig).length > 0) generationConfig['imageConfig'] = { ...imageConfig };
  if (maxOutputTokens !== undefined) generationConfig['maxOutputTokens'] = maxOutputTokens;
  if (temperature !== undefined) generationConfig['temperature'] = temperature;
  if (topP !== undefined) generationConfig['topP'] = topP;
  if (seed !== undefined) generationConfig['seed'] = seed;
  if (stop !== undefined) generationConfig['stopSequences'] = stop;

  return {
    modelAsked,
    model,
    n,
    stream: stream === true,
    includeUsage: isObject(streamOptions) && streamOptions['include_usage'] === true,
    ...(typeof user === 'string' ? { user } : {}),
    ...(system.length > 0 ? { system: system.join('\n\n') } : {}),
    turns,
    generationConfig,
    imageConfig,
    wantImage,
    ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
  };
}

/** Resolves each image URL (data URLs; allowed hosts fetched), in order. */
export async function resolveTurns(turns: readonly PendingTurn[], policy: ImageUrlPolicy, signal?: AbortSignal): Promise<Turn[]> {
  const out: Turn[] = [];
  for (const turn of turns) {
    const parts: TurnPart[] = [];
    for (const part of turn.parts) {
      const signature = part.thoughtSignature !== undefined ? { thoughtSignature: part.thoughtSignature } : {};
      if ('text' in part) parts.push(part);
      else parts.push({ image: await resolveImageUrl(part.imageUrl, part.param, policy, signal), ...signature });
    }
    out.push({ role: turn.role, parts });
  }
  return out;
}

/** The Gemini body of one call and its admission estimate. */
export function chatGeminiBody(req: ChatRequest, turns: readonly Turn[]): { body: Buffer; estimate: RequestEstimate } {
  const { body, skeleton } = encodeGeminiBody({ contents: turns, ...(req.system ? { system: req.system } : {}), generationConfig: req.generationConfig });
  const estimate = estimateRequest(req.model, skeleton);
  return { body, estimate: { ...estimate, outputImages: req.wantImage ? 1 : 0 } };
}
