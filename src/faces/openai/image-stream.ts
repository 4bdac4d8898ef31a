/**
 * `stream: true` on `/v1/images/generations` and `/v1/images/edits` (#14.3): server-sent events
 * as OpenAI documents them, `image_generation.partial_image` (`image_edit.partial_image` on
 * edits) for each interim (thought) image Google shows, up to `partial_images` per image, and
 * one `image_generation.completed` (`image_edit.completed`) per final image with its usage.
 * The n calls go through the one relay, streamed from Google (streamGenerateContent) so the
 * interim images go out as they arrive.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { estimateTextTokens, type RequestEstimate } from '../../gemini/request-inspect.js';
import type { ScannedImage, ScannedPart, ScanSummary } from '../../gemini/response-scanner.js';
import { formatUsd } from '../../usage/money.js';
import { renderOpenAIError } from './errors.js';
import { buildGeminiRequest, type GenerationsRequest } from './generations-request.js';
import { classifyResult, sumUsage } from './images-response.js';
import { convertBase64, outputFormatOf } from './image-output.js';
import { JsonSplicer } from './json-splice.js';
import type { RouteContext } from './route-context.js';
import { describeSize } from './size-mapping.js';
import { SseWriter } from './sse-writer.js';
import { finalImages, ImageCalls, type CallContent, type CallPlan } from './upstream-calls.js';

export interface ImageStreamJob {
  request: GenerationsRequest;
  images: ReadonlyArray<{ mimeType: string; base64: string }>;
  route: 'openai.generations' | 'openai.edits';
}

export async function streamImages(ctx: RouteContext, request: FastifyRequest, reply: FastifyReply, job: ImageStreamJob): Promise<FastifyReply | void> {
  const req = job.request;
  const prefix = job.route === 'openai.edits' ? 'image_edit' : 'image_generation';
  const calls = new ImageCalls(ctx.deps, request, reply, req.model, req.modelAsked);
  const estimate: RequestEstimate = {
    inputTokens: estimateTextTokens(req.prompt) + job.images.length * req.model.inputTokensPerImage,
    inputImages: job.images.length,
    outputImages: 1,
    imageSize: req.imageConfig.imageSize,
  };
  const plan: CallPlan = {
    route: job.route,
    model: req.model,
    modelAsked: req.modelAsked,
    body: buildGeminiRequest({ prompt: req.prompt, images: job.images, imageConfig: req.imageConfig }),
    estimate,
    ...(req.user !== undefined ? { user: req.user } : {}),
    stream: true,
  };
  const sse = new SseWriter(request, reply);
  const createdAt = () => Math.floor(ctx.deps.clock.nowMs() / 1000);
  const common = (mimeType: string) => ({
    size: describeSize(req.model, req.imageConfig),
    quality: req.quality ?? 'auto',
    background: req.background === 'opaque' || req.background === undefined || req.background === 'auto' ? 'opaque' : req.background,
    output_format: outputFormatOf(mimeType, req.output) ?? 'png',
  });
  // Events go out in order, each after the conversion of the one before it (when output_format asks for one).
  let work = Promise.resolve();
  const send = (event: () => Promise<void>) => {
    work = work.then(event).catch((err: unknown) => request.log.warn({ err: (err as Error).message }, 'an image event could not be sent'));
  };
  let partialIndex = 0;
  const onPart = (perCall: { partials: number }) => (part: ScannedPart) => {
    if (!part.thought || !part.image || perCall.partials >= req.partialImages) return;
    perCall.partials++;
    const image = part.image;
    const index = partialIndex++;
    send(async () => {
      const converted = await convertBase64(image.base64, image.mimeType, req.output);
      const splicer = new JsonSplicer();
      const type = `${prefix}.partial_image`;
      sse.write(type, splicer.encode({ type, b64_json: splicer.slot(converted.base64), created_at: createdAt(), ...common(converted.mimeType), partial_image_index: index }));
    });
  };

  const started = await Promise.allSettled(Array.from({ length: req.n }, () => calls.start(plan, onPart({ partials: 0 }))));
  if (started.every((s) => s.status === 'rejected')) throw (started[0] as PromiseRejectedResult).reason;
  sse.open();

  // The last completed event waits for every call, so its usage can say how many images failed.
  let held: { image: ScannedImage; summary: ScanSummary } | undefined;
  const completed = async (item: { image: ScannedImage; summary: ScanSummary }, failed?: number) => {
    const converted = await convertBase64(item.image.base64, item.image.mimeType, req.output);
    const splicer = new JsonSplicer();
    const type = `${prefix}.completed`;
    const usage = { ...sumUsage([item.summary]), ...(failed ? { images_failed: failed } : {}) };
    sse.write(type, splicer.encode({ type, b64_json: splicer.slot(converted.base64), created_at: createdAt(), ...common(converted.mimeType), usage }));
  };
  try {
    const settled = await Promise.allSettled(
      started.map(async (s) => {
        if (s.status === 'rejected') throw s.reason;
        const content: CallContent = await s.value.done;
        const verdict = classifyResult(content.content);
        if (!verdict.ok) throw verdict.error;
        for (const image of finalImages(content.content)) {
          const previous = held;
          held = { image, summary: content.content };
          if (previous) send(() => completed(previous));
        }
        return content;
      }),
    );
    await work;
    let failed = 0;
    let firstError: unknown;
    let costNanoUsd = 0;
    for (const s of settled) {
      if (s.status === 'rejected') {
        failed++;
        firstError ??= s.reason;
      } else costNanoUsd += s.value.outcome.cost.costNanoUsd;
    }
    if (held) await completed(held, failed);
    else {
      // Nothing to show: the reason, as an error event (the openai SDK throws it).
      const err = firstError instanceof GatewayError ? firstError : new GatewayError('NO_IMAGE', 'Google returned no image.');
      const rendered = renderOpenAIError(err).body;
      sse.json('error', { type: 'error', ...rendered });
    }
    sse.end(formatUsd(costNanoUsd));
  } catch (e) {
    request.log.error({ err: e }, 'image stream failed');
    sse.end();
  }
}
