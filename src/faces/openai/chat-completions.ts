/**
 * `POST /v1/chat/completions` for the image models (#14.1), as chat UIs (LibreChat, Open WebUI)
 * and OpenRouter-style clients call it: n upstream calls through the one relay, the answer as a
 * chat completion with `message.images`, or as `chat.completion.chunk` events with the images
 * in the deltas.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ScannedPart } from '../../gemini/response-scanner.js';
import { formatUsd } from '../../usage/money.js';
import { refuseOtherMethods } from '../error-handling.js';
import { chatGeminiBody, parseChatBody, resolveTurns, type ChatRequest } from './chat-request.js';
import { chatMessage, chatUsage, chatVerdict, finishReasonOf, imageUrlPart, reasoningDetailsOf, type ChatFinishReason } from './chat-response.js';
import { renderOpenAIError } from './errors.js';
import { JsonSplicer } from './json-splice.js';
import { sendJsonPieces, settleCalls, type RouteContext } from './route-context.js';
import { SseWriter } from './sse-writer.js';
import { ImageCalls, settlementHeaders, type CallContent, type CallPlan } from './upstream-calls.js';

const ROUTE = 'openai.chat';

export function registerChatCompletions(app: FastifyInstance, ctx: RouteContext): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const asked = (request.body as { model?: unknown } | null)?.model;
    if (typeof asked === 'string') request.modelAsked = asked.slice(0, 200);
    const req = parseChatBody(request.body, ctx.parseOpts());
    const calls = new ImageCalls(ctx.deps, request, reply, req.model, req.modelAsked);
    const turns = await resolveTurns(req.turns, ctx.imageUrlPolicy, calls.signal);
    const { body, estimate } = chatGeminiBody(req, turns);
    const plan: CallPlan = { route: ROUTE, model: req.model, modelAsked: req.modelAsked, body, estimate, ...(req.user !== undefined ? { user: req.user } : {}), stream: req.stream };
    if (req.stream) return streamChat(ctx, request, reply, req, calls, plan);

    // Each answer waits in a spool until all n are in: a 4K image is ~20 MB of base64.
    const settled = await Promise.allSettled(Array.from({ length: req.n }, async () => (await calls.start(plan, undefined, ctx.spools.open(reply.raw))).done));
    const s = settleCalls(settled, (c) => chatVerdict(c.content));
    reply.headers(await settlementHeaders(ctx.deps, request, { costNanoUsd: s.costNanoUsd, admissions: s.answered.map((c) => c.admission), failed: s.failed, anyAnswered: s.answered.length > 0 }));
    if (s.good.length === 0) throw s.firstError ?? new GatewayError('NO_IMAGE', 'Google returned nothing.');
    const splicer = new JsonSplicer();
    const completion = {
      id: `chatcmpl-${request.id}`,
      object: 'chat.completion',
      created: Math.floor(ctx.deps.clock.nowMs() / 1000),
      model: req.model.id,
      choices: s.good.map((c, index) => ({ index, message: chatMessage(splicer, c.content, c.spool), finish_reason: finishReasonOf(c.content), logprobs: null })),
      usage: chatUsage(
        s.answered.map((c) => c.content),
        s.costNanoUsd,
        s.failed,
      ),
      system_fingerprint: null,
    };
    return sendJsonPieces(reply, splicer.encodePieces(completion));
  };
  for (const prefix of ['/v1', '/v1beta/openai']) {
    app.post(`${prefix}/chat/completions`, { onRequest: ctx.auth }, handler);
    refuseOtherMethods(app, `${prefix}/chat/completions`, ['POST']);
  }
}

/**
 * The streamed answer: the event stream opens once a call is under way (so a refusal or
 * Google's error before that is still an ordinary error with its status), each call is a
 * choice whose text deltas and images go out as Google sends them, the last chunk of each
 * choice carries its finish reason and signatures, then usage (when asked) and `[DONE]`.
 */
async function streamChat(ctx: RouteContext, request: FastifyRequest, reply: FastifyReply, req: ChatRequest, calls: ImageCalls, plan: CallPlan): Promise<FastifyReply | void> {
  const sse = new SseWriter(request, reply);
  const id = `chatcmpl-${request.id}`;
  const created = Math.floor(ctx.deps.clock.nowMs() / 1000);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: 'chat.completion.chunk', created, model: req.model.id, system_fingerprint: null, choices, ...extra });
  const choiceOf = new Map<number, number>();
  const imagesSent = new Map<number, number>();
  let nextChoice = 0;
  // Choices are numbered in the order their calls start answering, so they are dense.
  const choice = (call: number): number => {
    let index = choiceOf.get(call);
    if (index === undefined) {
      index = nextChoice++;
      choiceOf.set(call, index);
      sse.json(undefined, chunk([{ index, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }]));
    }
    return index;
  };
  const onPart = (call: number) => (part: ScannedPart) => {
    if (sse.gone) return;
    const index = choice(call);
    if (part.thought) {
      if (part.text) sse.json(undefined, chunk([{ index, delta: { reasoning: part.text }, finish_reason: null, logprobs: null }]));
      return;
    }
    if (part.text) sse.json(undefined, chunk([{ index, delta: { content: part.text }, finish_reason: null, logprobs: null }]));
    if (part.image) {
      const k = imagesSent.get(call) ?? 0;
      imagesSent.set(call, k + 1);
      const splicer = new JsonSplicer();
      sse.write(undefined, splicer.encode(chunk([{ index, delta: { images: [imageUrlPart(splicer, part.image, k)] }, finish_reason: null, logprobs: null }])));
    }
  };

  const started = await Promise.allSettled(Array.from({ length: req.n }, (_, call) => calls.start(plan, onPart(call))));
  if (started.every((s) => s.status === 'rejected')) throw (started[0] as PromiseRejectedResult).reason;

  try {
    const settled = await Promise.allSettled(
      started.map(async (s, call) => {
        if (s.status === 'rejected') throw s.reason;
        let content: CallContent;
        try {
          content = await s.value.done;
        } catch (e) {
          if (!sse.gone) sse.json(undefined, chunk([{ index: choice(call), delta: {}, finish_reason: 'error' satisfies ChatFinishReason, logprobs: null }]));
          throw e;
        }
        if (!sse.gone) {
          const details = reasoningDetailsOf(content.content);
          const finish = chatVerdict(content.content).ok ? finishReasonOf(content.content) : finishReasonOf(content.content) === 'content_filter' ? 'content_filter' : 'error';
          sse.json(undefined, chunk([{ index: choice(call), delta: details.length > 0 ? { reasoning_details: details } : {}, finish_reason: finish, logprobs: null }]));
        }
        return content;
      }),
    );
    const s = settleCalls(settled, (c) => chatVerdict(c.content));
    if (s.good.length === 0) {
      // Nothing to show: the reason, as the SDK reads an error inside a stream (it throws it).
      const err = s.firstError instanceof GatewayError ? s.firstError : new GatewayError('NO_IMAGE', 'Google returned nothing.');
      sse.json(undefined, renderOpenAIError(err).body);
    } else if (req.includeUsage) {
      sse.json(undefined, chunk([], { usage: chatUsage(s.answered.map((c) => c.content), s.costNanoUsd, s.failed) }));
    }
    sse.raw('[DONE]');
    sse.end(formatUsd(s.costNanoUsd));
  } catch (e) {
    request.log.error({ err: e }, 'chat completion stream failed');
    sse.end();
  }
}
