/**
 * `POST /v1/responses` with the `image_generation` tool (#14.2), as the `openai` SDK and the
 * Vercel AI SDK's default `openai('…')` model send it, to a Gemini generateContent body.
 */
import { GatewayError } from '../../errors/gateway-error.js';
import { estimateRequest, type RequestEstimate } from '../../gemini/request-inspect.js';
import type { ModelSpec } from '../../models/catalog.js';
import { resolveModel } from './chat-request.js';
import { encodeGeminiBody, type Turn, type TurnPart } from './gemini-body.js';
import { parseBackground, parseOutputOptions, type ParseOptions } from './generations-request.js';
import { parseDataUrl, resolveImageUrl, type ImageUrlPolicy, type InlineImage } from './image-inputs.js';
import type { ImageOutputOptions } from './image-output.js';
import { sniffImageType } from './edits-request.js';
import { mapSize, type MappedImageConfig } from './size-mapping.js';
import { invalidParam as invalid, wrongTypeParam as wrongType } from './param-errors.js';

type PendingPart = { text: string } | { imageUrl: string; param: string } | { image: InlineImage };

interface PendingTurn {
  role: 'user' | 'model';
  parts: PendingPart[];
}

export interface ResponsesRequest {
  modelAsked: string;
  model: ModelSpec;
  stream: boolean;
  user?: string;
  instructions?: string;
  turns: PendingTurn[];
  generationConfig: Record<string, unknown>;
  imageConfig: MappedImageConfig;
  output: ImageOutputOptions;
  partialImages: number;
  /** As asked (echoed on image items): quality, background. */
  quality: string;
  background: string;
  /** The request's tools, echoed in the response object. */
  tools: unknown[];
  toolChoice: unknown;
  metadata: Record<string, unknown>;
  maxOutputTokens?: number;
  wantImage: boolean;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const absent = (v: unknown): v is undefined | null => v === undefined || v === null;


function messageParts(content: unknown, param: string): PendingPart[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) throw wrongType(param, 'a string or an array of content parts', content);
  return content.map((part, i): PendingPart => {
    const at = `${param}[${i}]`;
    if (!isObject(part)) throw wrongType(at, 'an object', part);
    switch (part['type']) {
      case 'input_text':
      case 'output_text':
      case 'text':
        if (typeof part['text'] !== 'string') throw wrongType(`${at}.text`, 'a string', part['text']);
        return { text: part['text'] };
      case 'input_image': {
        const url = part['image_url'];
        if (typeof url !== 'string' || url === '') {
          throw invalid(`${at}.image_url`, `Invalid input image at '${at}': send it as 'image_url' (a data URL); file ids are not supported.`);
        }
        return { imageUrl: url, param: `${at}.image_url` };
      }
      default:
        throw invalid(`${at}.type`, `Invalid value: '${String(part['type'])}' at '${at}.type'. Supported content parts are: 'input_text', 'input_image', 'output_text'.`);
    }
  });
}

/** An earlier `image_generation_call` output item handed back as input: the model's image. */
function generatedImage(item: Json, param: string): InlineImage {
  const result = item['result'];
  if (typeof result !== 'string' || result === '') throw invalid(`${param}.result`, `Invalid image_generation_call at '${param}': it has no result.`);
  if (result.startsWith('data:')) return parseDataUrl(result, `${param}.result`);
  const type = sniffImageType(Buffer.from(result.slice(0, 24), 'base64')) ?? 'image/png';
  return { mimeType: type, base64: result };
}

function parseInput(input: unknown): { turns: PendingTurn[]; system: string[] } {
  const system: string[] = [];
  const turns: PendingTurn[] = [];
  const push = (role: 'user' | 'model', parts: PendingPart[]) => {
    if (parts.length === 0) return;
    const last = turns[turns.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else turns.push({ role, parts });
  };
  if (typeof input === 'string') {
    push('user', input === '' ? [] : [{ text: input }]);
    return { turns, system };
  }
  if (!Array.isArray(input)) throw wrongType('input', 'a string or an array of input items', input);
  input.forEach((item, i) => {
    const param = `input[${i}]`;
    if (!isObject(item)) throw wrongType(param, 'an object', item);
    const type = item['type'] ?? 'message';
    if (type === 'message') {
      const role = item['role'];
      if (role === 'system' || role === 'developer') {
        system.push(
          messageParts(item['content'], `${param}.content`)
            .flatMap((p) => ('text' in p ? [p.text] : []))
            .join('\n'),
        );
      } else if (role === 'user') push('user', messageParts(item['content'], `${param}.content`));
      else if (role === 'assistant') push('model', messageParts(item['content'], `${param}.content`));
      else throw invalid(`${param}.role`, `Invalid value: '${String(role)}' at '${param}.role'.`);
    } else if (type === 'image_generation_call') {
      push('model', [{ image: generatedImage(item, param) }]);
    } else if (type === 'reasoning') {
      // Nothing Gemini can take back.
    } else if (type === 'item_reference') {
      throw invalid(
        `${param}.type`,
        `Item references are not supported: this gateway stores no responses. Send earlier items in full (with the AI SDK, providerOptions.openai.store: false).`,
      );
    } else {
      throw invalid(`${param}.type`, `Invalid value: '${String(type)}' at '${param}.type'. Image models take messages and image_generation_call items.`);
    }
  });
  return { turns, system };
}

/**
 * The image model a Responses request means: the `image_generation` tool's `model` when the
 * gateway knows it, else the request's `model`, else (the request names a text model, as
 * OpenAI's own examples do: `gpt-4.1` with the tool) whatever `gpt-image-1`, OpenAI's default
 * image model, names here, else the default model.
 */
function imageModel(body: Json, tool: Json | undefined, opts: ParseOptions): { modelAsked: string; model: ModelSpec } {
  const toolModel = tool?.['model'];
  if (typeof toolModel === 'string' && opts.resolve(toolModel)) return resolveModel(toolModel, opts, 'tools.model');
  const named = body['model'];
  if (typeof named === 'string' && opts.resolve(named)) return resolveModel(named, opts);
  if (tool) return opts.resolve('gpt-image-1') ? resolveModel('gpt-image-1', opts) : resolveModel(undefined, opts);
  return resolveModel(named, opts);
}

export function parseResponsesBody(body: unknown, opts: ParseOptions): ResponsesRequest {
  if (!isObject(body)) throw new GatewayError('INVALID_ARGUMENT', 'The request body must be a JSON object.');
  const tools = body['tools'] ?? [];
  if (!Array.isArray(tools)) throw wrongType('tools', 'an array', tools);
  const tool = tools.find((t): t is Json => isObject(t) && t['type'] === 'image_generation');
  const others = tools.filter((t) => !isObject(t) || t['type'] !== 'image_generation');
  if (others.length > 0) throw invalid('tools', "Image models take one tool, 'image_generation'; other tools are not supported here.");
  if (!absent(body['previous_response_id'])) {
    throw invalid('previous_response_id', 'previous_response_id is not supported: this gateway stores no responses. Send the earlier turns in input.');
  }
  const { modelAsked, model } = imageModel(body, tool, opts);
  if (absent(body['input'])) throw invalid('input', "Missing required parameter: 'input'.");
  const { turns, system } = parseInput(body['input']);
  if (turns.length === 0 || turns[turns.length - 1]!.role !== 'user') throw invalid('input', "Invalid 'input': it must end with the user's message, with text or an image.");
  const images = turns.reduce((n, t) => n + t.parts.filter((p) => !('text' in p)).length, 0);
  if (images > model.maxReferenceImages) {
    throw invalid('input', `Invalid 'input': too many images. ${model.id} accepts at most ${model.maxReferenceImages} images in a request, but got ${images}.`);
  }
  const instructions = body['instructions'];
  if (!absent(instructions) && typeof instructions !== 'string') throw wrongType('instructions', 'a string', instructions);
  if (typeof instructions === 'string' && instructions !== '') system.unshift(instructions);

  const t = tool ?? {};
  const imageConfig = mapSize(model, { size: t['size'], quality: t['quality'], aspect_ratio: t['aspect_ratio'] });
  const output = parseOutputOptions(t, 'json');
  const background = parseBackground(t['background']) ?? 'auto';
  const partial = t['partial_images'];
  if (!absent(partial) && (typeof partial !== 'number' || !Number.isInteger(partial) || partial < 0 || partial > 3)) {
    throw invalid('tools.partial_images', "Invalid 'partial_images': expected an integer from 0 to 3.");
  }
  // tool_choice "none" asks for no tool call: text alone.
  const toolChoice = body['tool_choice'] ?? 'auto';
  const wantImage = toolChoice !== 'none';
  const maxOutputTokens = body['max_output_tokens'];
  if (!absent(maxOutputTokens) && (typeof maxOutputTokens !== 'number' || !Number.isInteger(maxOutputTokens) || maxOutputTokens < 1)) {
    throw wrongType('max_output_tokens', 'a positive integer', maxOutputTokens);
  }
  const stream = body['stream'];
  if (!absent(stream) && typeof stream !== 'boolean') throw wrongType('stream', 'a boolean', stream);
  const user = body['user'] ?? body['safety_identifier'];
  if (!absent(user) && typeof user !== 'string') throw wrongType('user', 'a string', user);
  const temperature = body['temperature'];
  const topP = body['top_p'];

  const generationConfig: Record<string, unknown> = { responseModalities: wantImage ? ['TEXT', 'IMAGE'] : ['TEXT'] };
  if (wantImage && Object.keys(imageConfig).length > 0) generationConfig['imageConfig'] = { ...imageConfig };
  if (typeof maxOutputTokens === 'number') generationConfig['maxOutputTokens'] = maxOutputTokens;
  if (typeof temperature === 'number') generationConfig['temperature'] = temperature;
  if (typeof topP === 'number') generationConfig['topP'] = topP;
  const quality = typeof t['quality'] === 'string' ? t['quality'] : 'auto';
  return {
    modelAsked,
    model,
    stream: stream === true,
    ...(typeof user === 'string' ? { user } : {}),
    ...(system.length > 0 ? { instructions: system.join('\n\n') } : {}),
    turns,
    generationConfig,
    imageConfig,
    output,
    partialImages: typeof partial === 'number' ? partial : 0,
    quality,
    background,
    tools,
    toolChoice,
    metadata: isObject(body['metadata']) ? body['metadata'] : {},
    ...(typeof maxOutputTokens === 'number' ? { maxOutputTokens } : {}),
    wantImage,
  };
}

export async function resolveResponsesTurns(turns: readonly PendingTurn[], policy: ImageUrlPolicy, signal?: AbortSignal): Promise<Turn[]> {
  const out: Turn[] = [];
  for (const turn of turns) {
    const parts: TurnPart[] = [];
    for (const part of turn.parts) {
      if ('text' in part) parts.push(part);
      else if ('image' in part) parts.push({ image: part.image });
      else parts.push({ image: await resolveImageUrl(part.imageUrl, part.param, policy, signal) });
    }
    out.push({ role: turn.role, parts });
  }
  return out;
}

export function responsesGeminiBody(req: ResponsesRequest, turns: readonly Turn[]): { body: Buffer; estimate: RequestEstimate } {
  const { body, skeleton } = encodeGeminiBody({ contents: turns, ...(req.instructions ? { system: req.instructions } : {}), generationConfig: req.generationConfig });
  return { body, estimate: { ...estimateRequest(req.model, skeleton), outputImages: req.wantImage ? 1 : 0 } };
}
