/**
 * The native face's Batch and Files API (#16), in Google's shapes (docs/google-batch-api.md),
 * so @google/genai's `ai.batches.*` and `ai.files.*` work with only the base URL changed. Every
 * name a tenant sends is looked up as the gateway's own, with its owner: another tenant's batch
 * or file, or any object of the project the gateway did not make, is a 404 as at Google.
 *
 * The handlers are exported on their own: under /v1/ a few paths are the OpenAI face's too
 * (`GET /v1/batches/{id}`, `/v1/files/{id}`), and the OpenAI plugin hands Google-keyed requests
 * for them here (the key form picks the shape, as for /v1/models).
 */
import { pipeline } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { batchDoc, isTerminal, nativeFileOf, nativeOperationOf } from '../../batch/batch-doc.js';
import { inlineRequestStats } from '../../batch/request-stats.js';
import { renamingStream } from '../../batch/operation-rename.js';
import { googleFailure } from '../../batch/google-client.js';
import type { BatchRuntime } from '../../batch/runtime.js';
import { uniformImageSize, vertexHasNoFilesApi } from '../../files/file-service.js';
import { fileMetadata, parseMultipartRelated, uploadCommands } from '../../files/upload-protocol.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ModelSpec } from '../../models/catalog.js';
import type { ProjectRuntime } from '../../relay/gemini-relay.js';
import { authenticateTenant } from '../../tenants/auth-hook.js';
import type { Caller } from '../../tenants/registry.js';
import { formatUsd } from '../../usage/money.js';
import { refuseOtherMethods } from '../error-handling.js';
import type { FaceDeps } from '../face-deps.js';

/** Google: inline requests are for batches "under 20MB"; bigger ones go in a file. */
export const INLINE_BATCH_MAX_BYTES = 20 * 1024 * 1024;

const PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

export interface NativeBatchHandlers {
  createBatch(request: FastifyRequest, reply: FastifyReply, call: { caller: Caller; project: ProjectRuntime; model: ModelSpec; modelAsked: string }): Promise<unknown>;
  listBatches(request: FastifyRequest): Promise<unknown>;
  getBatch(request: FastifyRequest, reply: FastifyReply, id: string): Promise<unknown>;
  cancelBatch(request: FastifyRequest, id: string): Promise<unknown>;
  deleteBatch(request: FastifyRequest, id: string): Promise<unknown>;
  upload(request: FastifyRequest, reply: FastifyReply): Promise<unknown>;
  listFiles(request: FastifyRequest): Promise<unknown>;
  /** `{id}` or `{id}:download`. */
  getFile(request: FastifyRequest, reply: FastifyReply, rest: string): Promise<unknown>;
  deleteFile(request: FastifyRequest, id: string): Promise<unknown>;
}

function runtimeOf(deps: FaceDeps): BatchRuntime {
  if (!deps.batches) throw new GatewayError('NOT_IMPLEMENTED', 'Batches are not available on this gateway.');
  return deps.batches;
}

/** Where clients reach this gateway, for the URLs it hands out (upload sessions, file URIs). */
function publicBase(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

function pageSizeOf(raw: unknown, fallback = PAGE_SIZE): number {
  const n = Number.parseInt(String(raw ?? ''), 10);
  return Number.isInteger(n) && n > 0 ? Math.min(n, MAX_PAGE_SIZE) : fallback;
}

function pageTokenOf(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw === '') return undefined;
  return Buffer.from(raw, 'base64url').toString();
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

function jsonObject(body: unknown, what: string): Record<string, unknown> {
  if (!Buffer.isBuffer(body) || body.length === 0) throw new GatewayError('INVALID_ARGUMENT', `The request body is empty; ${what} is required.`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new GatewayError('INVALID_ARGUMENT', `Invalid JSON payload received: ${(e as Error).message}.`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new GatewayError('INVALID_ARGUMENT', `Invalid JSON payload received. Expected ${what}.`);
  return parsed as Record<string, unknown>;
}

export function nativeBatchHandlers(deps: FaceDeps): NativeBatchHandlers {
  const caller = (request: FastifyRequest): Caller => request.caller!;

  return {
    async createBatch(request, reply, call) {
      const rt = runtimeOf(deps);
      // Before the input file is looked up: a Vertex AI project's tenant can have none.
      if (call.project.vertex) throw vertexHasNoFilesApi(call.project.id);
      const body = request.body;
      if (Buffer.isBuffer(body) && body.length > INLINE_BATCH_MAX_BYTES) {
        throw new GatewayError('INVALID_ARGUMENT', `A batch request may have at most ${INLINE_BATCH_MAX_BYTES} bytes of inline requests; upload them as a JSONL file and name it in inputConfig.fileName.`);
      }
      const root = jsonObject(body, 'a BatchGenerateContentRequest JSON object');
      const batch = root['batch'];
      if (!batch || typeof batch !== 'object' || Array.isArray(batch)) throw new GatewayError('INVALID_ARGUMENT', 'batch is required and must be a GenerateContentBatch object.', { param: 'batch' });
      const b = batch as Record<string, unknown>;
      const displayName = b['displayName'] ?? b['display_name'];
      const priority = b['priority'];
      const input = (b['inputConfig'] ?? b['input_config']) as Record<string, unknown> | undefined;
      if (!input || typeof input !== 'object') throw new GatewayError('INVALID_ARGUMENT', 'batch.inputConfig is required: fileName or requests.', { param: 'batch.input_config' });
      const fileName = input['fileName'] ?? input['file_name'];
      const common = {
        caller: call.caller,
        project: call.project,
        model: call.model,
        modelAsked: call.modelAsked,
        face: 'native' as const,
        displayName: typeof displayName === 'string' ? displayName.slice(0, 512) : '',
        ...(typeof priority === 'string' || typeof priority === 'number' ? { priority: String(priority) } : {}),
      };
      let created;
      if (typeof fileName === 'string') {
        const file = await rt.files.get(call.caller, fileName);
        created = await rt.service.create({ ...common, source: { kind: 'file', file } });
      } else {
        const wrapper = input['requests'] as Record<string, unknown> | undefined;
        const list = wrapper && typeof wrapper === 'object' ? wrapper['requests'] : undefined;
        if (!Array.isArray(list) || list.length === 0) throw new GatewayError('INVALID_ARGUMENT', 'batch.inputConfig needs fileName or a non-empty requests.requests list.', { param: 'batch.input_config' });
        const requests = list.map((item, i) => {
          const r = item && typeof item === 'object' ? (item as Record<string, unknown>)['request'] : undefined;
          if (!r || typeof r !== 'object' || Array.isArray(r)) throw new GatewayError('INVALID_ARGUMENT', `batch.inputConfig.requests.requests[${i}].request must be a GenerateContentRequest object.`, { param: `batch.input_config.requests.requests[${i}].request` });
          // A request may name the model again (the SDK writes it when given): it resolves like the path's, and must be the same one.
          const named = (r as Record<string, unknown>)['model'];
          if (typeof named === 'string') {
            if (deps.models.route(named)?.served.id !== call.model.id) {
              throw new GatewayError('INVALID_ARGUMENT', `batch.inputConfig.requests.requests[${i}].request.model names ${named}, not the batch's model ${call.model.id}: a batch has one model.`, { param: `batch.input_config.requests.requests[${i}].request.model` });
            }
            (r as Record<string, unknown>)['model'] = `models/${call.model.id}`;
          }
          return r;
        });
        const stats = inlineRequestStats(requests);
        created = await rt.service.create({ ...common, source: { kind: 'inline', body: root, stats, imageSize: uniformImageSize(stats) } });
      }
      reply.header('x-nanogate-batch-hold-usd', formatUsd(created.holdNanoUsd));
      return nativeOperationOf(created.batch);
    },

    async listBatches(request) {
      const q = request.query as Record<string, unknown>;
      const after = pageTokenOf(q['pageToken']);
      const { batches, more } = await runtimeOf(deps).service.list(caller(request), { pageSize: pageSizeOf(q['pageSize']), ...(after !== undefined ? { after } : {}) });
      const next = more ? Buffer.from(batches.at(-1)!.name).toString('base64url') : undefined;
      return { operations: batches.map(nativeOperationOf), ...(next ? { nextPageToken: next } : {}) };
    },

    async getBatch(request, reply, id) {
      const rt = runtimeOf(deps);
      let row = await rt.service.getOwned(caller(request), id);
      row = await rt.service.refresh(row);
      const doc = batchDoc(row);
      if (!(isTerminal(row.state) && doc.inlineOutput && row.googleName)) return nativeOperationOf(row);
      // A finished inline batch: its responses are Google's operation, relayed with the gateway's names.
      const answer = await rt.google.getBatchStream(rt.service.projectOf(row.projectId), row.googleName);
      if (!answer.ok) throw googleFailure(answer);
      const renames = { name: row.name, 'metadata.name': row.name, 'metadata.displayName': doc.displayName };
      reply.header('content-type', 'application/json; charset=UTF-8');
      const out = renamingStream(renames);
      pipeline(answer.body.toReadable(), out, (err) => {
        if (err) request.log.warn({ err: err.message }, "Google's batch answer broke off while it was relayed");
      });
      return reply.send(out);
    },

    async cancelBatch(request, id) {
      await runtimeOf(deps).service.cancel(caller(request), id);
      return {};
    },

    async deleteBatch(request, id) {
      await runtimeOf(deps).service.remove(caller(request), id);
      return {};
    },

    async upload(request, reply) {
      const rt = runtimeOf(deps);
      const c = caller(request);
      const base = publicBase(request);
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const q = request.query as Record<string, unknown>;
      const uploadId = typeof q['upload_id'] === 'string' ? q['upload_id'] : undefined;
      const commands = uploadCommands(request.headers['x-goog-upload-command']);
      if (uploadId !== undefined) {
        if (commands.has('cancel')) {
          await rt.files.cancelSession(c, uploadId);
          return reply.header('x-goog-upload-status', 'cancelled').send('');
        }
        if (commands.has('query') && !commands.has('upload')) {
          const received = await rt.files.sessionReceived(c, uploadId);
          return reply.header('x-goog-upload-status', 'active').header('x-goog-upload-size-received', String(received)).send('');
        }
        if (!commands.has('upload') && !commands.has('finalize')) throw new GatewayError('INVALID_ARGUMENT', 'X-Goog-Upload-Command must be upload, "upload, finalize", finalize, query or cancel.', { param: 'X-Goog-Upload-Command' });
        const offset = Number(header(request, 'x-goog-upload-offset') ?? (commands.has('upload') ? Number.NaN : await rt.files.sessionReceived(c, uploadId)));
        if (!Number.isSafeInteger(offset) || offset < 0) throw new GatewayError('INVALID_ARGUMENT', 'X-Goog-Upload-Offset must give the byte offset of the chunk.', { param: 'X-Goog-Upload-Offset' });
        const result = await rt.files.uploadChunk(c, uploadId, { offset, body: commands.has('upload') ? body : Buffer.alloc(0), finalize: commands.has('finalize') });
        if (!result.final) return reply.header('x-goog-upload-status', 'active').header('x-goog-upload-size-received', String(result.receivedBytes)).send('');
        reply.header('x-goog-upload-status', 'final');
        return { file: nativeFileOf(result.file, base) };
      }
      const protocol = (header(request, 'x-goog-upload-protocol') ?? '').toLowerCase();
      if (protocol === 'resumable') {
        if (!commands.has('start')) throw new GatewayError('INVALID_ARGUMENT', 'A resumable upload starts with X-Goog-Upload-Command: start.', { param: 'X-Goog-Upload-Command' });
        const meta = fileMetadata(body.length > 0 ? jsonObject(body, '{"file": {...}}') : undefined);
        const mimeType = header(request, 'x-goog-upload-header-content-type') ?? meta.mimeType;
        if (!mimeType) throw new GatewayError('INVALID_ARGUMENT', 'The file type is required: X-Goog-Upload-Header-Content-Type or file.mimeType.', { param: 'X-Goog-Upload-Header-Content-Type' });
        const session = await rt.files.startResumable(c, {
          declaredBytes: Number(header(request, 'x-goog-upload-header-content-length')),
          mimeType,
          ...(meta.displayName !== undefined ? { displayName: meta.displayName } : {}),
        });
        return reply
          .header('x-goog-upload-status', 'active')
          .header('x-goog-upload-url', `${base}/upload/v1beta/files?upload_id=${session.id}&upload_protocol=resumable`)
          .header('x-goog-upload-chunk-granularity', '8388608')
          .send('');
      }
      if (protocol === 'multipart') {
        const parts = parseMultipartRelated(header(request, 'content-type'), body);
        const meta = fileMetadata(parts.metadata);
        const file = await rt.files.uploadWhole(c, { bytes: parts.media, mimeType: meta.mimeType ?? parts.mimeType, ...(meta.displayName !== undefined ? { displayName: meta.displayName } : {}) });
        return { file: nativeFileOf(file, base) };
      }
      // A bare media upload: the body is the file, its type the request's.
      const mimeType = (header(request, 'content-type') ?? 'application/octet-stream').split(';')[0]!.trim();
      const file = await rt.files.uploadWhole(c, { bytes: body, mimeType });
      return { file: nativeFileOf(file, base) };
    },

    async listFiles(request) {
      const q = request.query as Record<string, unknown>;
      const token = typeof q['pageToken'] === 'string' && q['pageToken'] !== '' ? q['pageToken'] : undefined;
      const { files, nextPageToken } = await runtimeOf(deps).files.list(caller(request), { pageSize: pageSizeOf(q['pageSize'], 10), ...(token ? { pageToken: token } : {}) });
      const base = publicBase(request);
      return { files: files.map((f) => nativeFileOf(f, base)), ...(nextPageToken ? { nextPageToken } : {}) };
    },

    async getFile(request, reply, rest) {
      const rt = runtimeOf(deps);
      const colon = rest.indexOf(':');
      if (colon < 0) return nativeFileOf(await rt.files.get(caller(request), rest), publicBase(request));
      if (rest.slice(colon + 1) !== 'download') throw new GatewayError('ROUTE_NOT_FOUND', `Method ${rest.slice(colon + 1)} is not served for files: use download.`);
      const { answer } = await rt.files.download(caller(request), rest.slice(0, colon));
      reply.header('content-type', typeof answer.headers['content-type'] === 'string' ? answer.headers['content-type'] : 'application/octet-stream');
      return reply.send(answer.body.toReadable());
    },

    async deleteFile(request, id) {
      await runtimeOf(deps).files.delete(caller(request), id);
      return {};
    },
  };
}

/**
 * Registers the routes under /v1beta/ (and those of /v1/ no OpenAI route shares), with the
 * upload and download hosts' paths. Model routes call createBatch from the face's own
 * `{model}:batchGenerateContent` handler.
 */
export function registerNativeBatchRoutes(app: FastifyInstance, deps: FaceDeps, h: NativeBatchHandlers): void {
  const auth = authenticateTenant(deps.tenants, deps.authLimiter);
  const param = (request: FastifyRequest, name: string) => (request.params as Record<string, string>)[name] ?? '';
  for (const v of ['v1beta', 'v1']) {
    app.post(`/upload/${v}/files`, { onRequest: auth }, (request, reply) => h.upload(request, reply));
    refuseOtherMethods(app, `/upload/${v}/files`, ['POST']);
    app.get(`/download/${v}/files/*`, { onRequest: auth }, (request, reply) => h.getFile(request, reply, param(request, '*')));
    // `{id}:cancel`; on /v1/ the OpenAI face's POST /v1/batches/{id}/cancel is a route of its own.
    app.post(`/${v}/batches/*`, { onRequest: auth }, (request) => {
      const rest = param(request, '*');
      if (!rest.endsWith(':cancel')) throw new GatewayError('ROUTE_NOT_FOUND', `No route POST /${v}/batches/${rest.slice(0, 200)}: use {name}:cancel.`);
      return h.cancelBatch(request, rest.slice(0, -':cancel'.length));
    });
    app.delete(`/${v}/batches/:id`, { onRequest: auth }, (request) => h.deleteBatch(request, param(request, 'id')));
  }
  app.get('/v1beta/batches', { onRequest: auth }, (request) => h.listBatches(request));
  refuseOtherMethods(app, '/v1beta/batches', ['GET']);
  app.get('/v1beta/batches/:id', { onRequest: auth }, (request, reply) => h.getBatch(request, reply, param(request, 'id')));
  app.get('/v1beta/files', { onRequest: auth }, (request) => h.listFiles(request));
  refuseOtherMethods(app, '/v1beta/files', ['GET']);
  app.get('/v1beta/files/*', { onRequest: auth }, (request, reply) => h.getFile(request, reply, param(request, '*')));
  app.delete('/v1beta/files/:id', { onRequest: auth }, (request) => h.deleteFile(request, param(request, 'id')));
}
