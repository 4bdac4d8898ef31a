/**
 * The OpenAI face's Files and Batch API for image batches (#16), so the `openai` SDK's
 * files.create / batches.create / batches.retrieve / batches.list / batches.cancel /
 * files.content work unchanged: an OpenAI batch is one Google batch, its input translated on
 * upload (batch-input.ts), its output translated as it is read (batch-output.ts).
 *
 * `/v1/batches/{id}`, `/v1/files/{id}` and the lists are Google's paths too (@google/genai 3.x
 * talks /v1/): a request that came with a Google-style key (x-goog-api-key or ?key=) is
 * answered in Google's shape by the native face's handlers, as /v1/models is.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { fileDoc, openaiBatchOf, openaiFileOf } from '../../batch/batch-doc.js';
import { BatchResultReader, type ResultItem } from '../../batch/result-reader.js';
import type { BatchRuntime } from '../../batch/runtime.js';
import { toGatewayError } from '../../errors/from-fastify.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { authenticateTenant } from '../../tenants/auth-hook.js';
import type { AnswerBody } from '../../upstream/answer-body.js';
import { formatUsd } from '../../usage/money.js';
import { sendError, refuseOtherMethods } from '../error-handling.js';
import type { FaceDeps } from '../face-deps.js';
import { renderGoogleError } from '../native/errors.js';
import { nativeBatchHandlers } from '../native/batches.js';
import { OpenAIOutputWriter } from './batch-output.js';
import { translateBatchInput, type BatchEndpoint } from './batch-input.js';
import { renderOpenAIError } from './errors.js';

const LIST_LIMIT = 20;
const MAX_LIST_LIMIT = 100;

function runtimeOf(deps: FaceDeps): BatchRuntime {
  if (!deps.batches) throw new GatewayError('NOT_IMPLEMENTED', 'Batches are not available on this gateway.');
  return deps.batches;
}

/** Google's SDK came with a Google-style key: its shape. The openai SDK sends a bearer token. */
const googleShaped = (request: FastifyRequest) => request.credentialSource !== 'bearer';

function limitOf(raw: unknown): number {
  const n = Number.parseInt(String(raw ?? ''), 10);
  return Number.isInteger(n) && n > 0 ? Math.min(n, MAX_LIST_LIMIT) : LIST_LIMIT;
}

/** Google's result lines as OpenAI's output lines, one response at a time. */
async function* openaiOutput(body: AnswerBody, batchName: string, createdSec: number): AsyncGenerator<Buffer> {
  const writer = new OpenAIOutputWriter(batchName, createdSec);
  const ready: ResultItem[] = [];
  const reader = new BatchResultReader({ framing: 'jsonl', captureImages: true, onItem: (item) => ready.push(item) });
  for await (const chunk of body.toReadable()) {
    reader.write(chunk as Buffer);
    for (const item of ready.splice(0)) yield* writer.push(item);
  }
  reader.end();
  for (const item of ready.splice(0)) yield* writer.push(item);
  yield* writer.end();
}

export async function openaiBatchRoutes(app: FastifyInstance, deps: FaceDeps): Promise<void> {
  const auth = authenticateTenant(deps.tenants, deps.authLimiter);
  const native = nativeBatchHandlers(deps);
  // Errors of a path both faces share take the shape of the face the key form picked.
  const dualErrors = {
    errorHandler: (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
      const err = toGatewayError(error);
      if (err.code === 'INTERNAL' && !(error instanceof GatewayError)) request.log.error({ err: error }, 'unhandled error');
      deps.onError(err);
      return sendError(reply, err, googleShaped(request) ? renderGoogleError : renderOpenAIError);
    },
  };
  const parseOpts = () => ({ resolve: (n: string) => deps.models.resolve(n), defaultModel: deps.config.defaultModel, servedModels: deps.models.servedNames() });
  const param = (request: FastifyRequest, name: string) => (request.params as Record<string, string>)[name] ?? '';

  // ---- files ----

  app.post('/v1/files', { onRequest: auth }, async (request) => {
    const rt = runtimeOf(deps);
    if (!request.isMultipart()) throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'Upload a file as multipart/form-data with `file` and `purpose`.');
    let purpose: string | undefined;
    let file: { filename: string; data: Buffer } | undefined;
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file') throw new GatewayError('INVALID_ARGUMENT', `Unexpected file field '${part.fieldname}'.`, { param: part.fieldname });
        file = { filename: part.filename || 'batch.jsonl', data: await part.toBuffer() };
      } else if (part.fieldname === 'purpose') purpose = String(part.value);
    }
    if (!file) throw new GatewayError('INVALID_ARGUMENT', "Missing required parameter: 'file'.", { param: 'file' });
    if (purpose !== 'batch') throw new GatewayError('INVALID_ARGUMENT', `Invalid 'purpose': this gateway keeps files for image batches only: use purpose 'batch', not ${JSON.stringify(purpose ?? null)}.`, { param: 'purpose' });
    const translated = translateBatchInput(file.data, parseOpts());
    const stored = await rt.files.uploadWhole(request.caller!, {
      bytes: translated.jsonl,
      mimeType: 'application/jsonl',
      displayName: file.filename,
      openai: { filename: file.filename, bytes: file.data.length, endpoint: translated.endpoint, model: translated.model.id, modelAsked: translated.modelAsked, requests: translated.requests },
    });
    return openaiFileOf(stored);
  });

  app.get('/v1/files', { onRequest: auth, ...dualErrors }, async (request) => {
    if (googleShaped(request)) return native.listFiles(request);
    const q = request.query as Record<string, unknown>;
    const limit = limitOf(q['limit']);
    const after = typeof q['after'] === 'string' && q['after'] !== '' ? Buffer.from(`files/${q['after'].replace(/^file-/, '')}`).toString('base64url') : undefined;
    const purpose = typeof q['purpose'] === 'string' && q['purpose'] !== '' ? q['purpose'] : undefined;
    const { files, nextPageToken } = await runtimeOf(deps).files.list(request.caller!, { pageSize: limit, ...(after ? { pageToken: after } : {}), ...(purpose ? { purpose } : {}) });
    const data = files.map(openaiFileOf);
    return { object: 'list', data, first_id: data[0]?.['id'] ?? null, last_id: data.at(-1)?.['id'] ?? null, has_more: nextPageToken !== undefined };
  });
  refuseOtherMethods(app, '/v1/files', ['GET', 'POST']);

  app.get('/v1/files/:id', { onRequest: auth, ...dualErrors }, async (request, reply) => {
    if (googleShaped(request)) return native.getFile(request, reply, param(request, 'id'));
    return openaiFileOf(await runtimeOf(deps).files.get(request.caller!, param(request, 'id')));
  });
  app.delete('/v1/files/:id', { onRequest: auth, ...dualErrors }, async (request) => {
    if (googleShaped(request)) return native.deleteFile(request, param(request, 'id'));
    const f = await runtimeOf(deps).files.delete(request.caller!, param(request, 'id'));
    return { id: openaiFileOf(f)['id'], object: 'file', deleted: true };
  });

  app.get('/v1/files/:id/content', { onRequest: auth }, async (request, reply) => {
    const rt = runtimeOf(deps);
    const file = await rt.files.get(request.caller!, param(request, 'id'));
    const doc = fileDoc(file);
    if (doc.source !== 'GENERATED' || !doc.batch) {
      throw new GatewayError('INVALID_ARGUMENT', `${openaiFileOf(file)['id']} is an input file: Google keeps uploaded files unreadable, so only batch output files have content here.`);
    }
    const batch = await deps.db.getBatch(doc.batch);
    const { answer } = await rt.files.download(request.caller!, file.name);
    reply.header('content-type', 'application/jsonl');
    return reply.send(Readable.from(openaiOutput(answer.body, doc.batch, Math.floor((batch?.createdAtMs ?? file.createdAtMs) / 1000)), { objectMode: false }));
  });

  // ---- batches ----

  app.post('/v1/batches', { onRequest: auth }, async (request, reply) => {
    const rt = runtimeOf(deps);
    const body = request.body as Record<string, unknown> | null;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new GatewayError('INVALID_ARGUMENT', 'The request body must be a JSON object.');
    const inputFileId = body['input_file_id'];
    if (typeof inputFileId !== 'string') throw new GatewayError('INVALID_ARGUMENT', "Missing required parameter: 'input_file_id'.", { param: 'input_file_id' });
    const endpoint = body['endpoint'];
    if (endpoint !== '/v1/images/generations' && endpoint !== '/v1/images/edits') {
      throw new GatewayError('INVALID_ARGUMENT', `Invalid 'endpoint': this gateway batches /v1/images/generations and /v1/images/edits, not ${JSON.stringify(endpoint ?? null)}.`, { param: 'endpoint' });
    }
    const window = body['completion_window'] ?? '24h';
    if (window !== '24h') throw new GatewayError('INVALID_ARGUMENT', "Invalid 'completion_window': only '24h' is supported.", { param: 'completion_window' });
    const metadata = body['metadata'];
    if (metadata !== undefined && metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata) || Object.values(metadata).some((v) => typeof v !== 'string'))) {
      throw new GatewayError('INVALID_ARGUMENT', "Invalid 'metadata': a map of strings.", { param: 'metadata' });
    }
    const file = await rt.files.get(request.caller!, inputFileId).catch((e: unknown) => {
      if (e instanceof GatewayError && e.code === 'NOT_FOUND') throw new GatewayError('NOT_FOUND', `No such File object: ${inputFileId}`, { param: 'input_file_id' });
      throw e;
    });
    const input = fileDoc(file).openai;
    if (!input?.endpoint || !input.model) throw new GatewayError('INVALID_ARGUMENT', `${inputFileId} was not uploaded as an OpenAI batch input (POST /v1/files with purpose 'batch').`, { param: 'input_file_id' });
    if (input.endpoint !== endpoint) throw new GatewayError('INVALID_ARGUMENT', `The lines of ${inputFileId} call ${input.endpoint}, not ${endpoint}.`, { param: 'endpoint' });
    const model = deps.models.lookup(input.model);
    if (!model) throw new GatewayError('MODEL_NOT_FOUND', `The model \`${input.model}\` does not exist.`);
    const project = rt.files.projectOf(request.caller!);
    request.modelAsked = input.modelAsked ?? model.id;
    request.modelId = model.id;
    const meta = (metadata ?? null) as Record<string, string> | null;
    const created = await rt.service.create({
      caller: request.caller!,
      project,
      model,
      modelAsked: input.modelAsked ?? model.id,
      face: 'openai',
      displayName: meta?.['name'] ?? meta?.['description'] ?? input.filename,
      source: { kind: 'file', file },
      openai: { endpoint: endpoint as BatchEndpoint, inputFileId: openaiFileOf(file)['id'] as string, completionWindow: '24h', metadata: meta },
    });
    reply.header('x-nanogate-batch-hold-usd', formatUsd(created.holdNanoUsd));
    return openaiBatchOf(created.batch);
  });
  refuseOtherMethods(app, '/v1/batches', ['GET', 'POST']);

  app.get('/v1/batches', { onRequest: auth, ...dualErrors }, async (request) => {
    if (googleShaped(request)) return native.listBatches(request);
    const q = request.query as Record<string, unknown>;
    const after = typeof q['after'] === 'string' && q['after'] !== '' ? q['after'] : undefined;
    const { batches, more } = await runtimeOf(deps).service.list(request.caller!, { pageSize: limitOf(q['limit']), ...(after ? { after } : {}) });
    const data = batches.map(openaiBatchOf);
    return { object: 'list', data, first_id: data[0]?.['id'] ?? null, last_id: data.at(-1)?.['id'] ?? null, has_more: more };
  });

  app.get('/v1/batches/:id', { onRequest: auth, ...dualErrors }, async (request, reply) => {
    if (googleShaped(request)) return native.getBatch(request, reply, param(request, 'id'));
    const rt = runtimeOf(deps);
    const row = await rt.service.refresh(await rt.service.getOwned(request.caller!, param(request, 'id')));
    return openaiBatchOf(row);
  });

  app.post('/v1/batches/:id/cancel', { onRequest: auth }, async (request) => {
    const rt = runtimeOf(deps);
    // Cancelled once Google says so; until then, cancelling (as OpenAI reports it).
    return openaiBatchOf(await rt.service.cancel(request.caller!, param(request, 'id')));
  });
}
