/**
 * `POST /v1/responses` (#14.2): one upstream call through the one relay; Gemini's final image
 * becomes an `image_generation_call` output item (base64 `result`), its text an assistant
 * message. Streamed, it is OpenAI's event sequence, with
 * `response.image_generation_call.partial_image` for each interim (thought) image Google
 * shows, up to the tool's `partial_images`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ScannedImage, ScannedPart, ScanSummary } from '../../gemini/response-scanner.js';
import { randomHex } from '../../random/pool.js';
import { formatUsd } from '../../usage/money.js';
import { refuseOtherMethods } from '../error-handling.js';
import { chatVerdict } from './chat-response.js';
import { renderOpenAIError } from './errors.js';
import { sumUsage } from './images-response.js';
import type { AnswerSpool } from './answer-spool.js';
import { convertBase64, needsConversion, outputFormatOf } from './image-output.js';
import { JsonSplicer, type SplicePiece } from './json-splice.js';
import { parseResponsesBody, resolveResponsesTurns, responsesGeminiBody, type ResponsesRequest } from './responses-request.js';
import { sendJsonPieces, settleCalls, type RouteContext } from './route-context.js';
import { describeSize } from './size-mapping.js';
import { SseWriter } from './sse-writer.js';
import { finalImages, ImageCalls, imagePieces, readImageBase64, settlementHeaders, type CallContent, type CallPlan } from './upstream-calls.js';

const ROUTE = 'openai.responses';

interface ResponseIds {
  response: string;
  image: string;
  message: string;
  createdSec: number;
}

/** Responses' usage: thinking is reasoning output; cost in USD as this face writes it. */
function responsesUsage(summary: ScanSummary, costNanoUsd: number) {
  const u = sumUsage([summary]);
  return {
    input_tokens: u.input_tokens,
    input_tokens_details: { cached_tokens: 0, text_tokens: u.input_tokens_details.text_tokens, image_tokens: u.input_tokens_details.image_tokens },
    output_tokens: u.output_tokens,
    output_tokens_details: { reasoning_tokens: summary.usageMetadata?.thoughtsTokenCount ?? 0, image_tokens: u.output_tokens_details.image_tokens },
    total_tokens: u.total_tokens,
    cost_usd: formatUsd(costNanoUsd),
  };
}

/** The response object around `output` (OpenAI's Response, as far as clients read it). */
function responseObject(req: ResponsesRequest, ids: ResponseIds, status: string, output: unknown[], extra: Record<string, unknown> = {}) {
  return {
    id: ids.response,
    object: 'response',
    created_at: ids.createdSec,
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: req.instructions ?? null,
    max_output_tokens: req.maxOutputTokens ?? null,
    model: req.model.id,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    text: { format: { type: 'text' } },
    tool_choice: req.toolChoice,
    tools: req.tools,
    truncation: 'disabled',
    usage: null,
    user: req.user ?? null,
    metadata: req.metadata,
    ...extra,
  };
}

function imageItem(req: ResponsesRequest, ids: ResponseIds, splicer: JsonSplicer, image: { base64: SplicePiece[]; mimeType: string }, revisedPrompt: string) {
  return {
    id: ids.image,
    type: 'image_generation_call',
    status: 'completed',
    result: splicer.slot(image.base64),
    ...(revisedPrompt ? { revised_prompt: revisedPrompt } : {}),
    background: req.background === 'auto' ? 'opaque' : req.background,
    output_format: outputFormatOf(image.mimeType, req.output) ?? 'png',
    quality: req.quality,
    size: describeSize(req.model, req.imageConfig),
  };
}

function messageItem(ids: ResponseIds, text: string) {
  return { id: ids.message, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [], logprobs: [] }] };
}

/**
 * An image of a spooled answer as it goes out: its kept base64 as it is, or read back whole and
 * converted when the request asked for another format.
 */
async function spooledImage(image: ScannedImage, spool: AnswerSpool | undefined, output: ResponsesRequest['output']): Promise<{ base64: SplicePiece[]; mimeType: string }> {
  if (!needsConversion(image.mimeType, output)) return { base64: imagePieces(image, spool), mimeType: image.mimeType };
  return convertBase64(await readImageBase64(image, spool), image.mimeType, output);
}

export function registerResponses(app: FastifyInstance, ctx: RouteContext): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const asked = (request.body as { model?: unknown } | null)?.model;
    if (typeof asked === 'string') request.modelAsked = asked.slice(0, 200);
    const req = parseResponsesBody(request.body, ctx.parseOpts());
    const calls = new ImageCalls(ctx.deps, request, reply, req.model, req.modelAsked);
    const turns = await resolveResponsesTurns(req.turns, ctx.imageUrlPolicy, calls.signal);
    const { body, estimate } = responsesGeminiBody(req, turns);
    const plan: CallPlan = { route: ROUTE, model: req.model, modelAsked: req.modelAsked, body, estimate, ...(req.user !== undefined ? { user: req.user } : {}), stream: req.stream };
    const ids: ResponseIds = { response: `resp_${randomHex(24)}`, image: `ig_${randomHex(24)}`, message: `msg_${randomHex(24)}`, createdSec: Math.floor(ctx.deps.clock.nowMs() / 1000) };
    if (req.stream) return streamResponse(ctx, request, reply, req, calls, plan, ids);

    // The answer waits in a spool until it is complete: a 4K image is ~20 MB of base64.
    const settled = await Promise.allSettled([calls.start(plan, undefined, ctx.spools.open(reply.raw)).then((c) => c.done)]);
    const s = settleCalls(settled, (c) => chatVerdict(c.content));
    reply.headers(await settlementHeaders(ctx.deps, request, { costNanoUsd: s.costNanoUsd, admissions: s.answered.map((c) => c.admission), failed: 0, anyAnswered: s.answered.length > 0 }));
    const done = s.good[0];
    if (!done) throw s.firstError ?? new GatewayError('NO_IMAGE', 'Google returned nothing.');
    const splicer = new JsonSplicer();
    const output: unknown[] = [];
    const text = done.content.text.trim();
    const image = finalImages(done.content)[0];
    if (image) output.push(imageItem(req, ids, splicer, await spooledImage(image, done.spool, req.output), text));
    if (text) output.push(messageItem(ids, done.content.text));
    const response = responseObject(req, ids, 'completed', output, { usage: responsesUsage(done.content, s.costNanoUsd) });
    return sendJsonPieces(reply, splicer.encodePieces(response));
  };
  for (const prefix of ['/v1', '/v1beta/openai']) {
    app.post(`${prefix}/responses`, { onRequest: ctx.auth }, handler);
    refuseOtherMethods(app, `${prefix}/responses`, ['POST']);
  }
}

/**
 * OpenAI's event sequence: response.created, response.in_progress; the image item (added,
 * in_progress, generating, partial images, completed, done) as Google's images arrive; then the
 * message item with the answer's text; response.completed with usage (response.failed when
 * Google gave nothing usable). The text waits for the end so the items never interleave.
 */
async function streamResponse(
  ctx: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  req: ResponsesRequest,
  calls: ImageCalls,
  plan: CallPlan,
  ids: ResponseIds,
): Promise<FastifyReply | void> {
  const sse = new SseWriter(request, reply);
  let sequence = 0;
  const emit = (type: string, fields: Record<string, unknown>, splicer?: JsonSplicer) => {
    const event = { type, sequence_number: sequence++, ...fields };
    if (splicer) sse.write(type, splicer.encode(event));
    else sse.json(type, event);
  };
  let imageOpen = false;
  let partials = 0;
  let work = Promise.resolve();
  const openImage = () => {
    if (imageOpen) return;
    imageOpen = true;
    emit('response.output_item.added', { output_index: 0, item: { id: ids.image, type: 'image_generation_call', status: 'in_progress' } });
    emit('response.image_generation_call.in_progress', { output_index: 0, item_id: ids.image });
    emit('response.image_generation_call.generating', { output_index: 0, item_id: ids.image });
  };
  const partial = (image: ScannedImage) => {
    const index = partials++;
    // In order, each after the previous one's conversion (when output_format asks for one).
    work = work.then(async () => {
      const converted = await convertBase64(image.base64, image.mimeType, req.output);
      if (sse.gone) return;
      const splicer = new JsonSplicer();
      emit(
        'response.image_generation_call.partial_image',
        {
          output_index: 0,
          item_id: ids.image,
          partial_image_index: index,
          partial_image_b64: splicer.slot(converted.base64),
          size: describeSize(req.model, req.imageConfig),
          quality: req.quality,
          background: req.background === 'auto' ? 'opaque' : req.background,
          output_format: outputFormatOf(converted.mimeType, req.output) ?? 'png',
        },
        splicer,
      );
    });
  };
  // Parts that arrive before response.created is out (a small answer can come whole with its
  // headers) wait for it.
  let ready = false;
  const early: ScannedPart[] = [];
  const onPart = (part: ScannedPart) => {
    if (!ready) return void early.push(part);
    if (sse.gone || !part.image) return;
    if (part.thought) {
      if (partials >= req.partialImages) return;
      openImage();
      partial(part.image);
    } else openImage();
  };

  const running = await calls.start(plan, onPart);
  const created = responseObject(req, ids, 'in_progress', []);
  emit('response.created', { response: created });
  emit('response.in_progress', { response: created });
  ready = true;
  for (const part of early.splice(0)) onPart(part);

  let done: CallContent | undefined;
  let failure: unknown;
  try {
    done = await running.done;
  } catch (e) {
    failure = e;
  }
  try {
    await work;
    const cost = done?.outcome.cost.costNanoUsd ?? 0;
    const verdict = done ? chatVerdict(done.content) : { ok: false as const, error: failure };
    if (!done || !verdict.ok) {
      const err = (verdict.ok ? undefined : verdict.error) instanceof GatewayError ? (verdict as { error: GatewayError }).error : new GatewayError('NO_IMAGE', 'Google returned nothing.');
      const rendered = renderOpenAIError(err).body.error;
      emit('response.failed', {
        response: responseObject(req, ids, 'failed', [], {
          error: { code: rendered.code ?? rendered.type, message: rendered.message },
          ...(done ? { usage: responsesUsage(done.content, cost) } : {}),
        }),
      });
      return sse.end(formatUsd(cost));
    }
    const content = done.content;
    const splicer = new JsonSplicer();
    const output: unknown[] = [];
    const text = content.text.trim();
    const image = finalImages(content)[0];
    if (image) {
      openImage();
      const item = imageItem(req, ids, splicer, await convertBase64(image.base64, image.mimeType, req.output), text);
      emit('response.image_generation_call.completed', { output_index: 0, item_id: ids.image });
      emit('response.output_item.done', { output_index: 0, item }, splicer);
      output.push(item);
    }
    if (text) {
      const at = output.length;
      const item = messageItem(ids, content.text);
      const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
      emit('response.output_item.added', { output_index: at, item: { ...item, status: 'in_progress', content: [] } });
      emit('response.content_part.added', { output_index: at, item_id: ids.message, content_index: 0, part });
      emit('response.output_text.delta', { output_index: at, item_id: ids.message, content_index: 0, delta: content.text, logprobs: [] });
      emit('response.output_text.done', { output_index: at, item_id: ids.message, content_index: 0, text: content.text, logprobs: [] });
      emit('response.content_part.done', { output_index: at, item_id: ids.message, content_index: 0, part: { ...part, text: content.text } });
      emit('response.output_item.done', { output_index: at, item });
      output.push(item);
    }
    emit('response.completed', { response: responseObject(req, ids, 'completed', output, { usage: responsesUsage(content, cost) }) }, splicer);
    sse.end(formatUsd(cost));
  } catch (e) {
    request.log.error({ err: e }, 'Responses stream failed');
    sse.end();
  }
}
