import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { estimateTextTokens, type RequestEstimate } from '../../gemini/request-inspect.js';
import type { ModelSpec } from '../../models/catalog.js';
import type { Admission } from '../../quota/quota-service.js';
import { newCallTally, type CallOutcome, type ProjectRuntime } from '../../relay/gemini-relay.js';
import { authenticateTenant } from '../../tenants/auth-hook.js';
import type { Caller } from '../../tenants/registry.js';
import { formatUsd } from '../../usage/money.js';
import { sendUsageReport } from '../../usage/usage-route.js';
import { BUDGET_REMAINING_HEADER, BudgetService } from '../../usage/budget.js';
import { sendBudget, sendRequestUsage } from '../../usage/tenant-routes.js';
import { installErrorHandler, modelRouteErrorObserver, refuseOtherMethods } from '../error-handling.js';
import type { FaceDeps } from '../face-deps.js';
import { abortOnClientGone } from '../client-connection.js';
import { googleModelList, googleModelResource } from '../native/models.js';
import { lifecycleHeaders } from '../../models/resolver.js';
import { readEditsForm } from './edits-form.js';
import { parseEditsFields } from './edits-request.js';
import { renderOpenAIError, rateLimitHeaders } from './errors.js';
import { openaiBatchRoutes } from './batches.js';
import { buildGeminiRequest, parseGenerationsBody, type GenerationsRequest } from './generations-request.js';
import { AnswerSpools, type AnswerSpool } from './answer-spool.js';
import { imagesResponseBody } from './response-body.js';
import { buildImagesResponse, classifyResult, type ReplacedImage } from './images-response.js';
import type { ScannedImage } from '../../gemini/response-scanner.js';
import { registerChatCompletions } from './chat-completions.js';
import { registerResponses } from './responses.js';
import { registerHostedImageRoute } from './hosted-image-route.js';
import { streamImages } from './image-stream.js';
import { convertImage, needsConversion } from './image-output.js';
import { imageUrlPolicyOf, type RouteContext } from './route-context.js';
import { IMAGES_FAILED_HEADER, readImageBase64, spoolFailure, upstreamFailure } from './upstream-calls.js';
import { editsImageUrls, parseEditsJson } from './edits-json.js';

/** Unix seconds at which the gateway's served models "were created", for OpenAI's list shape. */
const MODELS_CREATED_SEC = 1_764_000_000;

interface ImageJob {
  request: GenerationsRequest;
  images: ReadonlyArray<{ mimeType: string; base64: string }>;
  route: 'openai.generations' | 'openai.edits';
}

export async function openaiFace(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  installErrorHandler(app, renderOpenAIError, modelRouteErrorObserver(deps.onError));
  await app.register(multipart, {
    limits: { files: 15, fileSize: deps.config.server.bodyLimitBytes, fields: 50, fieldSize: 1 << 20, parts: 80 },
  });
  const auth = authenticateTenant(deps.tenants, deps.authLimiter);
  // Answers wait in memory up to this total for the whole process, the rest in spool files;
  // shutdown closes the files of spools still open.
  const spools = new AnswerSpools(deps.config.openai.answerMemoryMB * 1024 * 1024);
  app.addHook('onClose', () => spools.disposeAll());
  const parseOpts = () => ({ resolve: (n: string) => deps.models.resolve(n), defaultModel: deps.config.defaultModel, servedModels: deps.models.servedNames() });

  const projectOf = (caller: Caller): ProjectRuntime => {
    const p = deps.projects.get(caller.tenant.projectId);
    if (!p) throw new GatewayError('INTERNAL', `Tenant ${caller.tenant.id} names project ${caller.tenant.projectId}, which is not configured.`);
    return p;
  };

  /** n upstream calls made concurrently; each is its own request for quota and cost (contract §6). */
  const generate = async (request: FastifyRequest, reply: FastifyReply, job: ImageJob): Promise<FastifyReply> => {
    const caller = request.caller!;
    const { request: req } = job;
    request.modelAsked = req.modelAsked;
    request.modelId = req.model.id;
    const tally = (request.upstreamTally = newCallTally());
    const nowMs = deps.clock.nowMs();
    const found = deps.models.route(req.modelAsked, nowMs);
    if (found) reply.headers(lifecycleHeaders(found, nowMs));
    const body = buildGeminiRequest({ prompt: req.prompt, images: job.images, imageConfig: req.imageConfig });
    const estimate: RequestEstimate = {
      inputTokens: estimateTextTokens(req.prompt) + job.images.length * req.model.inputTokensPerImage,
      inputImages: job.images.length,
      outputImages: 1,
      imageSize: req.imageConfig.imageSize,
    };
    const signal = abortOnClientGone(request, reply);
    const project = projectOf(caller);
    const one = async (): Promise<{ outcome: CallOutcome; admission: Admission; spool: AnswerSpool }> => {
      const answer = await deps.relay.start({
        requestId: request.id,
        caller,
        project,
        model: req.model,
        modelAsked: req.modelAsked,
        route: job.route,
        apiVersion: 'v1beta',
        action: 'generateContent',
        framing: 'json',
        body,
        estimate,
        ...(req.user !== undefined ? { user: req.user } : {}),
        captureImages: 'ranges',
        signal,
        tally,
      });
      if (!answer.ok) {
        await answer.outcome;
        throw upstreamFailure(answer);
      }
      const spool = spools.open(reply.raw);
      try {
        await spool.consume(answer.body);
      } catch (e) {
        throw spoolFailure(e, request.log);
      }
      return { outcome: await answer.outcome, admission: answer.admission, spool };
    };
    const settled = await Promise.allSettled(Array.from({ length: req.n }, one));

    const done = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const costNanoUsd = done.reduce((sum, r) => sum + r.outcome.cost.costNanoUsd, 0);
    const good = done.filter((r) => r.outcome.summary && classifyResult(r.outcome.summary).ok);
    reply.header('x-nanogate-model', req.model.id);
    reply.header('x-nanogate-cost-usd', formatUsd(costNanoUsd));
    // What the caller's budgets have left now that its n calls have settled: read from the store,
    // since each call only saw its own hold.
    const owners = { tenantId: caller.tenant.id, tenantBudget: caller.tenant.budget, keyId: caller.keyId, keyBudget: caller.key?.budget };
    if (done.length > 0 && BudgetService.applies(owners)) {
      try {
        const left = await deps.budgets.remaining(owners, deps.clock.nowMs());
        if (left !== undefined) reply.header(BUDGET_REMAINING_HEADER, formatUsd(left));
      } catch (err) {
        request.log.warn({ err: (err as Error).message }, 'could not read the remaining budget for its header');
      }
    }
    if (good.length === 0) {
      // None succeeded: the first reason, in call order, is the answer.
      for (const s of settled) {
        if (s.status === 'rejected') throw s.reason;
        const verdict = classifyResult(s.value.outcome.summary!);
        if (!verdict.ok) throw verdict.error;
      }
      throw new GatewayError('NO_IMAGE', 'Google returned no image.');
    }
    // Each call makes one image: the ones that did not are counted for the client (#14.7).
    const failed = req.n - good.length;
    if (failed > 0) reply.header(IMAGES_FAILED_HEADER, String(failed));
    const last = good[good.length - 1]!.admission;
    if (last.limitRequests !== undefined && last.remainingRequests !== undefined && last.resetRequestsMs !== undefined) {
      reply.headers(rateLimitHeaders({ limit: last.limitRequests, remaining: last.remainingRequests, resetMs: last.resetRequestsMs }));
    }
    // Every answered call's usage counts (it is charged); only accepted images go into data.
    const answered = done.filter((r) => r.outcome.summary);
    const replaced = await finishImages(request, req, answered);
    const response = buildImagesResponse(
      answered.map((r) => ({ summary: r.outcome.summary! })),
      Math.floor(deps.clock.nowMs() / 1000),
      costNanoUsd,
      { replaced, failed },
    );
    reply.header('content-type', 'application/json');
    if (response.byteLength !== undefined) reply.header('content-length', String(response.byteLength));
    // Google's base64 goes out as it was kept (memory or spool file): never decoded or joined.
    return reply.send(imagesResponseBody(response.chunks, (result) => answered[result]!.spool));
  };

  /**
   * The images that cannot go out as Google sent them: those stored for `response_format: url`
   * (#14.4) and those converted to the `output_format` asked for (#14.6). Read back from their
   * spool, decoded, converted where needed; every other image still streams from its spool.
   */
  const finishImages = async (
    request: FastifyRequest,
    req: GenerationsRequest,
    answered: ReadonlyArray<{ outcome: CallOutcome; spool: AnswerSpool }>,
  ): Promise<Map<ScannedImage, ReplacedImage>> => {
    const out = new Map<ScannedImage, ReplacedImage>();
    const origin = `${request.protocol}://${request.host}`;
    for (const { outcome, spool } of answered) {
      if (!classifyResult(outcome.summary!).ok) continue;
      for (const image of outcome.summary!.images) {
        if (image.thought) continue;
        if (req.responseFormat !== 'url' && !needsConversion(image.mimeType, req.output)) continue;
        const pieces = await readImageBase64(image, spool);
        const converted = await convertImage(Buffer.from(Buffer.concat(pieces).toString('latin1'), 'base64'), image.mimeType, req.output);
        if (req.responseFormat === 'url') {
          const saved = await deps.hostedImages!.save(converted.bytes, converted.mimeType, origin);
          out.set(image, { url: saved.url, mimeType: converted.mimeType });
        } else {
          out.set(image, { base64: [Buffer.from(converted.bytes.toString('base64'), 'latin1')], mimeType: converted.mimeType });
        }
      }
    }
    return out;
  };

  const routeCtx: RouteContext = { deps, auth, parseOpts, imageUrlPolicy: imageUrlPolicyOf(deps), spools };
  /** Streamed (#14.3) or whole; a URL answer only where images can be hosted, refused before any call. */
  const run = (request: FastifyRequest, reply: FastifyReply, job: ImageJob) => {
    if (job.request.responseFormat === 'url' && !deps.hostedImages) {
      throw new GatewayError('INVALID_ARGUMENT', "Invalid value: 'url'. This gateway has no image storage configured: use 'b64_json'.", { param: 'response_format' });
    }
    if (job.request.stream) return streamImages(routeCtx, request, reply, job);
    return generate(request, reply, job);
  };

  const generations = async (request: FastifyRequest, reply: FastifyReply) => {
    // For the log line, even when the name is refused below.
    const asked = (request.body as { model?: unknown } | null)?.model;
    if (typeof asked === 'string') request.modelAsked = asked.slice(0, 200);
    return run(request, reply, { request: parseGenerationsBody(request.body, parseOpts()), images: [], route: 'openai.generations' });
  };

  const maxImages = Math.max(...deps.models.canonicalModels().map((m) => m.maxReferenceImages));
  const edits = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.isMultipart()) {
      // OpenAI's JSON form of edits: `images: [{image_url}]` (#14.6).
      if (typeof request.body === 'object' && request.body !== null && !Buffer.isBuffer(request.body)) {
        const asked = (request.body as { model?: unknown }).model;
        if (typeof asked === 'string') request.modelAsked = asked.slice(0, 200);
        const parsed = await parseEditsJson(request.body, parseOpts(), routeCtx.imageUrlPolicy);
        return run(request, reply, { request: parsed, images: parsed.images, route: 'openai.edits' });
      }
      throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', "Image edits take multipart/form-data with image (or image[]) files and a prompt, or JSON with 'images': [{'image_url': 'data:…'}].");
    }
    const { fields, files } = await readEditsForm(request, {
      maxBytes: deps.config.server.bodyLimitBytes,
      maxFiles: (sofar) => (sofar['model'] ? deps.models.resolve(sofar['model'])?.maxReferenceImages : undefined) ?? maxImages,
    }).catch((e: unknown) => {
      // A refused form may leave its unread rest on the connection: close it after the answer.
      reply.header('connection', 'close');
      throw e;
    });
    if (fields['model'] !== undefined) request.modelAsked = fields['model'].slice(0, 200);
    const parsed = parseEditsFields(fields, files, parseOpts(), await editsImageUrls(fields, routeCtx.imageUrlPolicy));
    return run(request, reply, { request: parsed, images: parsed.images, route: 'openai.edits' });
  };

  for (const prefix of ['/v1', '/v1beta/openai']) {
    app.post(`${prefix}/images/generations`, { onRequest: auth }, generations);
    app.post(`${prefix}/images/edits`, { onRequest: auth }, edits);
    refuseOtherMethods(app, `${prefix}/images/generations`, ['POST']);
    refuseOtherMethods(app, `${prefix}/images/edits`, ['POST']);
  }

  // Google's SDK may list models under /v1/ too: its key form picks Google's shape.
  const googleShaped = (request: FastifyRequest) => request.credentialSource !== 'bearer';
  const openaiModel = (id: string) => ({ id, object: 'model', created: MODELS_CREATED_SEC, owned_by: 'google' });
  for (const path of ['/v1/models', '/v1beta/openai/models']) {
    app.get(path, { onRequest: auth }, async (request) => {
      if (googleShaped(request) && path === '/v1/models') {
        const q = request.query as Record<string, unknown>;
        return googleModelList(deps.models.canonicalModels(), q['pageSize'], q['pageToken']);
      }
      return { object: 'list', data: deps.models.servedNames().map(openaiModel) };
    });
    app.get(`${path}/*`, { onRequest: auth }, async (request) => {
      const name = (request.params as { '*': string })['*'];
      const model: ModelSpec | undefined = deps.models.resolve(name);
      if (!model) {
        throw new GatewayError('MODEL_NOT_FOUND', `The model \`${name}\` does not exist. Served models: ${deps.models.servedNames().join(', ')}.`, { servedModels: deps.models.servedNames() });
      }
      return googleShaped(request) && path === '/v1/models' ? googleModelResource(model) : openaiModel(name);
    });
    refuseOtherMethods(app, path, ['GET']);
  }

  // #14: chat completions and Responses for the image models, and hosted image URLs.
  registerChatCompletions(app, routeCtx);
  registerResponses(app, routeCtx);
  registerHostedImageRoute(app, deps);

  // Image batches (#16): OpenAI's Files and Batch API over Google's, and Google's shape for the /v1/ paths both faces share.
  await openaiBatchRoutes(app, deps);

  app.get('/v1/usage', { onRequest: auth }, async (request, reply) => sendUsageReport(request, reply, deps, { tenantId: request.caller!.tenant.id }));
  refuseOtherMethods(app, '/v1/usage', ['GET']);
  // The tenant's own money (#13): its budgets now, and what one of its requests cost.
  app.get('/v1/budget', { onRequest: auth }, async (request) => sendBudget(request, deps));
  refuseOtherMethods(app, '/v1/budget', ['GET']);
  app.get('/v1/usage/requests/:requestId', { onRequest: auth }, async (request, reply) => sendRequestUsage(request, reply, deps));
  refuseOtherMethods(app, '/v1/usage/requests/:requestId', ['GET']);
}
