import { validateHeaderName, validateHeaderValue, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { readBodyBuffer } from '../../http/body-buffer.js';
import { estimateRequest } from '../../gemini/request-inspect.js';
import { parseRequestSkeleton } from '../../gemini/request-skeleton.js';
import { canonicalCountTokensBody } from '../../gemini/count-tokens-request.js';
import type { GenerateContentRequest } from '../../gemini/types.js';
import type { ModelSpec } from '../../models/catalog.js';
import { lifecycleHeaders } from '../../models/resolver.js';
import { newCallTally, type ProjectRuntime, type StreamingAnswer } from '../../relay/gemini-relay.js';
import { authenticateTenant } from '../../tenants/auth-hook.js';
import type { Caller } from '../../tenants/registry.js';
import { formatUsd } from '../../usage/money.js';
import { BUDGET_REMAINING_HEADER } from '../../usage/budget.js';
import { installErrorHandler, modelRouteErrorObserver, refuseOtherMethods } from '../error-handling.js';
import type { FaceDeps } from '../face-deps.js';
import { renderGoogleError } from './errors.js';
import { googleModelList, googleModelResource } from './models.js';
import { abortOnClientGone, wantsTrailers } from '../client-connection.js';
import { nativeBatchHandlers, registerNativeBatchRoutes } from './batches.js';
import { fileUrisOf, resolveFileReferences, withGoogleFileUris, type FileReference } from '../../files/file-references.js';
import { filePin, unreachablePin } from '../../relay/project-affinity.js';

type Action = 'generateContent' | 'streamGenerateContent' | 'countTokens';
/** The project that served a call (#17): in a pool, the one admission chose or a file or thought signature tied it to. */
const PROJECT_HEADER = 'x-nanogate-project';
const ACTIONS: readonly string[] = ['generateContent', 'streamGenerateContent', 'countTokens', 'batchGenerateContent'];
const VERSIONS = ['v1beta', 'v1'] as const;

/**
 * Response headers of Google's that are not relayed: those about the connection or Google's
 * server rather than the content, and cookies (Google's, for Google's domain: a tenant has no
 * business with them, and they would identify the gateway's project).
 */
const NOT_RELAYED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'trailer',
  'te',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'date',
  'server',
  'alt-svc',
  'x-goog-api-key',
  'set-cookie',
  'set-cookie2',
]);

function splitModelAction(rest: string): { modelName: string; action: string | undefined } {
  const colon = rest.lastIndexOf(':');
  if (colon < 0) return { modelName: rest, action: undefined };
  return { modelName: rest.slice(0, colon), action: rest.slice(colon + 1) };
}

function modelNotFound(name: string, version: string, served: readonly string[]): GatewayError {
  return new GatewayError(
    'MODEL_NOT_FOUND',
    `models/${name} is not found for API version ${version}, or is not supported for generateContent. Served models: ${served.join(', ')}.`,
    { servedModels: served },
  );
}

function parseGenerateBody(body: unknown): GenerateContentRequest {
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw new GatewayError('INVALID_ARGUMENT', 'The request body is empty; a GenerateContentRequest JSON object is required.');
  }
  let parsed: unknown;
  try {
    parsed = parseRequestSkeleton(body);
  } catch (e) {
    throw new GatewayError('INVALID_ARGUMENT', `Invalid JSON payload received: ${(e as Error).message}.`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new GatewayError('INVALID_ARGUMENT', 'Invalid JSON payload received. Expected a GenerateContentRequest object.');
  }
  const req = parsed as GenerateContentRequest;
  // Types only: values are Google's to judge, and its answer is relayed as is.
  if (!Array.isArray(req.contents) || req.contents.length === 0) {
    throw new GatewayError('INVALID_ARGUMENT', 'contents is required and must be a non-empty list of Content.', { param: 'contents' });
  }
  req.contents.forEach((c, i) => {
    if (!c || typeof c !== 'object' || Array.isArray(c)) throw new GatewayError('INVALID_ARGUMENT', `contents[${i}] must be a Content object.`, { param: `contents[${i}]` });
    if (c.parts !== undefined && !Array.isArray(c.parts)) throw new GatewayError('INVALID_ARGUMENT', `contents[${i}].parts must be a list.`, { param: `contents[${i}].parts` });
  });
  const gc = req.generationConfig;
  if (gc !== undefined && (!gc || typeof gc !== 'object' || Array.isArray(gc))) {
    throw new GatewayError('INVALID_ARGUMENT', 'generationConfig must be an object.', { param: 'generation_config' });
  }
  const ic = gc?.imageConfig;
  if (ic !== undefined && (!ic || typeof ic !== 'object' || Array.isArray(ic))) {
    throw new GatewayError('INVALID_ARGUMENT', 'generationConfig.imageConfig must be an object.', { param: 'generation_config.image_config' });
  }
  for (const field of ['imageSize', 'aspectRatio'] as const) {
    if (ic?.[field] !== undefined && typeof ic[field] !== 'string') {
      throw new GatewayError('INVALID_ARGUMENT', `generationConfig.imageConfig.${field} must be a string.`, { param: `generation_config.image_config.${field}` });
    }
  }
  return req;
}

export async function nativeFace(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  installErrorHandler(app, renderGoogleError, modelRouteErrorObserver(deps.onError));

  // The native face relays bodies byte for byte: keep them as Buffers, parse only to inspect.
  app.removeAllContentTypeParsers();
  const bodyLimit = deps.config.server.bodyLimitBytes;
  app.addContentTypeParser('*', (_req, payload, done) => {
    readBodyBuffer(payload, bodyLimit).then((body) => done(null, body), (err: Error) => done(err, undefined));
  });

  const auth = authenticateTenant(deps.tenants, deps.authLimiter);
  const projectOf = (caller: Caller): ProjectRuntime => {
    const p = deps.projects.get(caller.tenant.projectId);
    if (!p) throw new GatewayError('INTERNAL', `Tenant ${caller.tenant.id} names project ${caller.tenant.projectId}, which is not configured.`);
    return p;
  };
  /** The model a call goes to now, with the lifecycle headers its answer carries (RFC 9745, 8594). */
  const route = (name: string, version: string, reply: FastifyReply): ModelSpec => {
    const nowMs = deps.clock.nowMs();
    const found = deps.models.route(name, nowMs);
    if (!found) throw modelNotFound(name, version, deps.models.servedNames(nowMs));
    reply.headers(lifecycleHeaders(found, nowMs));
    return found.served;
  };

  // GET /v1/models is shared with the OpenAI face, which picks the shape by key form.
  app.get('/v1beta/models', { onRequest: auth }, async (request) => {
    const q = request.query as Record<string, unknown>;
    return googleModelList(deps.models.canonicalModels(), q['pageSize'], q['pageToken']);
  });
  app.get('/v1beta/models/*', { onRequest: auth }, async (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    return googleModelResource(route(rest, 'v1beta', reply));
  });
  refuseOtherMethods(app, '/v1beta/models', ['GET']);
  // A model is read with GET and called with POST (`{model}:generateContent`); nothing else.
  refuseOtherMethods(app, '/v1beta/models/*', ['GET', 'POST']);

  // Google's Batch and Files API (#16).
  const batchHandlers = nativeBatchHandlers(deps);
  registerNativeBatchRoutes(app, deps, batchHandlers);

  for (const version of VERSIONS) {

    app.post(`/${version}/models/*`, { onRequest: auth }, async (request, reply) => {
      const rest = (request.params as { '*': string })['*'];
      const { modelName, action } = splitModelAction(rest);
      if (!action || !ACTIONS.includes(action)) {
        throw new GatewayError('ROUTE_NOT_FOUND', `Method ${action ?? '(none)'} is not served for models/${modelName}: use generateContent, streamGenerateContent, countTokens or batchGenerateContent.`);
      }
      request.modelAsked = modelName;
      const model = route(modelName, version, reply);
      request.modelId = model.id;
      request.upstreamTally = newCallTally();
      const caller = request.caller!;
      if (action === 'countTokens') return relayCountTokens(request, reply, deps, projectOf(caller), model, version);
      if (action === 'batchGenerateContent') return batchHandlers.createBatch(request, reply, { caller, project: projectOf(caller), model, modelAsked: modelName });
      return relayGenerate(request, reply, deps, { caller, project: projectOf(caller), model, modelAsked: modelName, version, action: action as Exclude<Action, 'countTokens'> });
    });
  }
}

async function relayGenerate(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: FaceDeps,
  call: { caller: Caller; project: ProjectRuntime; model: ModelSpec; modelAsked: string; version: 'v1beta' | 'v1'; action: 'generateContent' | 'streamGenerateContent' },
): Promise<FastifyReply> {
  const parsed = parseGenerateBody(request.body);
  const sse = call.action === 'streamGenerateContent' && (request.query as Record<string, unknown>)['alt'] === 'sse';
  // Files named by the gateway's names (#17.5): looked up, and the call tied to their project.
  const uris = fileUrisOf(parsed);
  const files = uris.length > 0 ? await resolveFileReferences(deps.batches?.files, call.caller, uris) : [];
  const signal = abortOnClientGone(request, reply);
  const answer = await deps.relay.start({
    requestId: request.id,
    caller: call.caller,
    project: call.project,
    model: call.model,
    modelAsked: call.modelAsked,
    route: `native.${call.action}`,
    apiVersion: call.version,
    action: call.action,
    framing: call.action === 'generateContent' ? 'json' : sse ? 'sse' : 'json-array',
    // Forwarded as sent: only the model in the path becomes canonical, and a file the gateway
    // names goes by Google's URI for it.
    body: withGoogleFileUris(request.body as Buffer, files),
    ...(files.length > 0 ? { files: files.map(({ name, projectId }) => ({ name, projectId })) } : {}),
    estimate: estimateRequest(call.model, parsed),
    signal,
    ...(request.upstreamTally ? { tally: request.upstreamTally } : {}),
  });

  // The project that served it (a pool's, #17), whose key no relayed header may hold.
  const served = deps.projects.get(answer.admission.projectId) ?? call.project;
  if (!answer.ok) {
    reply.code(answer.status);
    reply.headers(endToEndHeaders(answer.headers, served.apiKey));
    reply.header('x-nanogate-model', call.model.id);
    reply.header(PROJECT_HEADER, served.id);
    const { cost, budgetRemainingNanoUsd } = await answer.outcome;
    reply.header('x-nanogate-cost-usd', formatUsd(cost.costNanoUsd));
    if (budgetRemainingNanoUsd !== undefined) reply.header(BUDGET_REMAINING_HEADER, formatUsd(budgetRemainingNanoUsd));
    return reply.send(answer.body);
  }
  relayAnswer(request, reply, answer, call.model.id, served.apiKey, deps.config.upstream.timeoutMs);
  return reply;
}

/**
 * Google's headers about the content, added to `out`: without those about its connection or
 * server, without cookies, and without any header whose value holds the project's key (an echo
 * of it must never reach a tenant).
 */
function endToEndHeaders(from: IncomingHttpHeaders, apiKey: string, out: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  for (const name in from) {
    const value = from[name];
    if (value === undefined || NOT_RELAYED.has(name)) continue;
    if (apiKey && (typeof value === 'string' ? value.includes(apiKey) : value.some((v) => v.includes(apiKey)))) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Writes a successful answer to the client's socket as it arrives. The reply is hijacked so
 * nothing sits between undici and the socket: each chunk is written as Google sends it, and a
 * small answer's body and end leave in one write (Fastify's onResponse hook still runs when the
 * response finishes). A full socket pauses the read from Google until it drains; a client that
 * lets it stay full for `stallMs` (the upstream timeout: the longest silence allowed either
 * way) is disconnected, which aborts the call, rather than holding it open forever.
 */
function relayAnswer(request: FastifyRequest, reply: FastifyReply, answer: StreamingAnswer, modelId: string, apiKey: string, stallMs: number): void {
  // One header object for writeHead: the reply's own (x-request-id), Google's, ours.
  // getHeaders() returns a fresh object: it becomes the one writeHead gets.
  const headers = endToEndHeaders(answer.headers, apiKey, reply.getHeaders() as OutgoingHttpHeaders);
  headers['x-nanogate-model'] = modelId;
  headers[PROJECT_HEADER] = answer.admission.projectId;
  // Before the body, the budget left counts this call at its hold; its trailer, once settled.
  const budgeted = answer.budgetRemainingNanoUsd !== undefined;
  if (budgeted) headers[BUDGET_REMAINING_HEADER] = formatUsd(answer.budgetRemainingNanoUsd!);
  // The cost is known only once usageMetadata has passed: a trailer, for clients that ask.
  const trailers = wantsTrailers(request);
  if (trailers) {
    delete headers['content-length'];
    headers['trailer'] = budgeted ? `x-nanogate-cost-usd, ${BUDGET_REMAINING_HEADER}` : 'x-nanogate-cost-usd';
  }
  const body = answer.body;
  try {
    // Every header Node would refuse surfaces here, before the reply is given up.
    for (const name in headers) {
      validateHeaderName(name);
      const value = headers[name];
      for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) validateHeaderValue(name, String(v));
    }
  } catch (e) {
    body.destroy();
    throw new GatewayError('UPSTREAM_UNAVAILABLE', `Google's answer could not be relayed: ${(e as Error).message}`);
  }
  reply.hijack();
  const res = reply.raw;
  // The status line goes out with the first bytes of the body: until then, an answer that
  // breaks off can still be a clean 502 rather than a connection closed on a client waiting.
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    res.writeHead(answer.status, headers);
  };
  let stalled: NodeJS.Timeout | undefined;
  const stopWaiting = () => {
    clearTimeout(stalled);
    stalled = undefined;
  };
  res.on('drain', () => {
    stopWaiting();
    body.resume();
  });
  res.once('close', stopWaiting);
  body.attach({
    data: (chunk) => {
      start();
      const more = res.write(chunk);
      if (!more && stalled === undefined) {
        stalled = setTimeout(() => {
          request.log.warn({ stallMs }, 'client stopped reading the answer: disconnecting it');
          res.destroy();
        }, stallMs);
        stalled.unref();
      }
      return more;
    },
    end: () => {
      start();
      if (!trailers) return void res.end();
      void answer.outcome
        .then(
          (o) =>
            res.addTrailers({
              'x-nanogate-cost-usd': formatUsd(o.cost.costNanoUsd),
              ...(o.budgetRemainingNanoUsd !== undefined ? { [BUDGET_REMAINING_HEADER]: formatUsd(o.budgetRemainingNanoUsd) } : {}),
            }),
          () => {},
        )
        .finally(() => res.end());
    },
    error: (err) => {
      // A client that left is no news (its call is metered as aborted).
      if (res.destroyed) return;
      request.log.warn({ err: err.message, started }, "Google's answer broke off while it was being relayed");
      // After the first bytes, the client learns of it from the connection closing early.
      if (started) return void res.destroy();
      started = true;
      const failure = renderGoogleError(new GatewayError('UPSTREAM_UNAVAILABLE', "Google's answer broke off before any of it arrived."));
      const text = JSON.stringify(failure.body);
      void answer.outcome
        .then((o) => formatUsd(o.cost.costNanoUsd), () => formatUsd(0))
        .then((cost) => {
          if (res.destroyed) return;
          res.writeHead(failure.status, {
            ...(reply.getHeaders() as OutgoingHttpHeaders),
            ...failure.headers,
            'content-type': 'application/json; charset=utf-8',
            'content-length': Buffer.byteLength(text),
            'x-nanogate-model': modelId,
            'x-nanogate-cost-usd': cost,
          });
          res.end(text);
        });
    },
  });
}

async function relayCountTokens(request: FastifyRequest, reply: FastifyReply, deps: FaceDeps, project: ProjectRuntime, model: ModelSpec, version: string): Promise<FastifyReply> {
  const raw = request.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw new GatewayError('INVALID_ARGUMENT', 'The request body is empty; a CountTokensRequest JSON object is required.');
  let skeleton: unknown;
  try {
    skeleton = parseRequestSkeleton(raw);
  } catch (e) {
    throw new GatewayError('INVALID_ARGUMENT', `Invalid JSON payload received: ${(e as Error).message}.`);
  }
  // Files are counted where they are (#17.5): in the project they were uploaded to, by Google's URI.
  const s = (skeleton ?? {}) as Record<string, unknown>;
  const uris = fileUrisOf(s['generateContentRequest'] ?? s['generate_content_request'] ?? s);
  const files = uris.length > 0 ? await resolveFileReferences(deps.batches?.files, request.caller!, uris) : [];
  const body = withGoogleFileUris(raw, files);
  project = filesProject(deps, request.caller!, project, files);
  // countTokens is relayed, not counted against RPM/RPD and not billed (contract §5).
  const answer = await deps.relay.countTokens({
    project,
    model,
    apiVersion: version,
    // The legacy SDK names the model again inside the body, as the client called it: Google
    // gets the canonical id there too. With file URIs (#17.5), the only body rewrites the native face makes.
    body: canonicalCountTokensBody(body, model.id),
    signal: abortOnClientGone(request, reply),
    ...(request.upstreamTally ? { tally: request.upstreamTally } : {}),
  });
  reply.code(answer.status);
  const contentType = answer.headers['content-type'];
  if (contentType) reply.header('content-type', contentType);
  reply.header('x-nanogate-model', model.id);
  reply.header(PROJECT_HEADER, project.id);
  reply.header('x-nanogate-cost-usd', formatUsd(0));
  return reply.send(answer.ok ? answer.body.toReadable() : answer.body);
}

/** countTokens over files: the project they were uploaded to, if the tenant's calls may go there (its project, or its pool's). */
function filesProject(deps: FaceDeps, caller: Caller, project: ProjectRuntime, files: readonly FileReference[]): ProjectRuntime {
  const pin = filePin(files);
  if (!pin || pin.projectId === project.id) return project;
  const pinned = deps.projects.get(pin.projectId);
  const tenant = caller.tenant;
  if (pinned && tenant.poolId !== undefined && pinned.pool === tenant.poolId) return pinned;
  throw unreachablePin(pin, files, tenant.poolId !== undefined ? `pool ${tenant.poolId}` : `project ${project.id}`);
}
