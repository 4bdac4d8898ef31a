/**
 * A stand-in for generativelanguage.googleapis.com that speaks its wire format
 * (reference/google-api.md) over real HTTP, with scripted faults. Every gateway test and the
 * benchmark talk to this instead of Google, which these machines cannot reach.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { buildAnswer, countTokensAnswer, foreignSignature, parseGenerateRequest, TEXT_ONLY_REPLY, unreadableFile, type Outcome } from './answers.js';
import { interimPng, paddedPng, tinyPng, type ImageAsset } from './images.js';
import { MOCK_MODELS, findModel, modelResource, type MockModel } from './models.js';
import { createMockBatches, type MockBatchesControl } from './batches.js';
import { errorForStatus, errors, prettyElement, prettyJson, rateLimitError, sseEvent, toWire, type GoogleError } from './wire.js';
import { createMockVertex, TOKEN_PATH, vertexErrors, vertexRoute, type MockVertexControl } from './vertex.js';

export interface MockGoogleOptions {
  /** Google keys the mock accepts (x-goog-api-key header or ?key=). Missing key -> 403 PERMISSION_DENIED, unknown -> 400 API_KEY_INVALID. */
  apiKeys?: string[];
  /**
   * Length in bytes of the base64 image data per answer, by the request's imageSize; 'default'
   * serves requests without imageSize and any size not listed. Unset: a 1x1 PNG.
   */
  imageBytes?: Partial<Record<'512' | '1K' | '2K' | '4K' | 'default', number>>;
  port?: number;
  host?: string;
  /** Keep every request in `received` (default true); the benchmark process turns it off. */
  recordRequests?: boolean;
  /**
   * Interim (thought) images each thinking model's answer shows before the final image, as
   * Gemini 3 Pro Image does (up to 2, google-api.md §3). Default 0; see also setInterimImages.
   */
  interimImages?: number;
  /** Service accounts whose signed assertions the OAuth token endpoint accepts (Vertex AI, #17.3); see also vertex.addServiceAccount. */
  serviceAccounts?: Array<{ email: string; publicKeyPem: string }>;
}

/** What the mock answered a generation request with, as far as tests check it. */
export interface SentAnswer {
  model: string;
  responseId: string;
  /** The thoughtSignature of each signed part, in answer order (text first, then the image). */
  thoughtSignatures: string[];
}

export interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | undefined>;
  body: Buffer;
}

export type Fault =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'rateLimit'; retryDelay?: string; quotaId?: string }
  | { kind: 'unavailable' }
  | { kind: 'internal' }
  | { kind: 'deadline' }
  | { kind: 'finish'; finishReason: string }
  | { kind: 'promptBlocked'; blockReason?: string }
  | { kind: 'textOnly'; text?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'hang' }
  | { kind: 'drop' }
  /** The answer starts (status, headers, the first `afterBytes` of the body), then the connection breaks. */
  | { kind: 'breakOff'; afterBytes: number }
  | { kind: 'slowBody'; chunkBytes: number; intervalMs: number };

export interface MockGoogle {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Every request, in order (countTokens and models included), recorded once its body is read. */
  received: ReceivedRequest[];
  /** Every successful generation answer, in order (with recordRequests). */
  answered: SentAnswer[];
  /** Each generation request (generateContent / streamGenerateContent) not under a model fault consumes the next queued fault; none queued = a normal image answer. */
  enqueue(...faults: Fault[]): void;
  /** Every generation request for this model answers with this fault until cleared; it takes precedence over the queue and does not consume it. */
  setModelFault(model: string, fault: Fault | undefined): void;
  /**
   * Every generation request made with this Google key (or, on Vertex's paths, this access token)
   * answers with this fault until cleared (a project out of quota, #17); it takes precedence over
   * model faults and the queue.
   */
  setKeyFault(apiKey: string, fault: Fault | undefined): void;
  /** Every Vertex AI generation request for this Google Cloud project answers with this fault until cleared; it takes precedence over key faults. */
  setVertexProjectFault(project: string, fault: Fault | undefined): void;
  /** Clears received requests, queued faults and model faults. */
  reset(): void;
  /** Stops listening and destroys every connection, hanging ones included. */
  close(): Promise<void>;
  /** The base64 image the mock answers with for an imageSize (none = a request without imageSize). */
  imageBase64(size?: string): string;
  /** Requests received and not yet answered or abandoned. */
  openRequests(): number;
  /** Interim (thought) images per answer of a thinking model from now on (0-2 as at Google; reset() keeps it). */
  setInterimImages(count: number): void;
  /** The base64 of interim image `index` (0-based) of every answer. */
  interimImageBase64(index: number): string;
  /** The Batch and Files API (#16): drive batches through their lifecycle, look at what was uploaded. */
  batches: MockBatchesControl;
  /** Vertex AI's paths and the OAuth token endpoint (#17.3): service accounts, token counts and faults. */
  vertex: MockVertexControl;
}

const JSON_TYPE = 'application/json; charset=UTF-8';

/** The headers Google's front end puts on API answers. */
function googleHeaders(contentType: string, startedMs: number): Record<string, string> {
  return {
    'content-type': contentType,
    vary: 'Origin, X-Origin, Referer',
    server: 'scaffolding on HTTPServer2',
    'x-xss-protection': '0',
    'x-frame-options': 'SAMEORIGIN',
    'x-content-type-options': 'nosniff',
    'server-timing': `gfet4t7; dur=${Math.round(performance.now() - startedMs)}`,
  };
}

/** A reply is written frame by frame; each frame is flushed on its own so stream chunks are real. */
interface Reply {
  status: number;
  headers: Record<string, string>;
  frames: Buffer[][];
}

interface Pacing {
  chunkBytes: number;
  intervalMs: number;
}

/** Resolves true after `ms`, or false as soon as the client has gone away. */
function waitOpen(res: ServerResponse, ms: number): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (open: boolean) => {
      clearTimeout(timer);
      res.off('close', onClose);
      resolve(open);
    };
    const onClose = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    res.on('close', onClose);
  });
}

/** Backpressure: resolves on 'drain', or when the client is gone (no 'drain' will come). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function writeReply(res: ServerResponse, reply: Reply, pacing: Pacing | undefined): Promise<void> {
  res.writeHead(reply.status, reply.headers);
  if (pacing !== undefined) {
    const body = Buffer.concat(reply.frames.flat());
    const step = Math.max(1, pacing.chunkBytes);
    for (let at = 0; at < body.length; at += step) {
      if (at > 0 && !(await waitOpen(res, pacing.intervalMs))) return;
      if (!res.write(body.subarray(at, at + step))) await drained(res);
      if (res.destroyed) return;
    }
  } else {
    for (const [i, frame] of reply.frames.entries()) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      for (const buf of frame) {
        if (res.destroyed) return;
        if (!res.write(buf)) await drained(res);
      }
    }
  }
  if (!res.destroyed) res.end();
}

type Route =
  | { kind: 'list'; version: string }
  | { kind: 'get'; version: string; model: string }
  | { kind: 'generate'; version: string; model: string; stream: boolean }
  | { kind: 'countTokens'; version: string; model: string }
  | { kind: 'apiNotFound' }
  | { kind: 'notFound' };

function route(method: string, path: string): Route {
  const m = /^\/(v1beta|v1)\/models(?:\/([^/:]+)(?::([A-Za-z]+))?)?$/.exec(path);
  if (m === null) return /^\/(v1beta|v1)\//.test(path) ? { kind: 'apiNotFound' } : { kind: 'notFound' };
  const version = m[1] ?? 'v1beta';
  const model = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  const verb = m[3];
  if (model === undefined) return method === 'GET' ? { kind: 'list', version } : { kind: 'apiNotFound' };
  if (verb === undefined) return method === 'GET' ? { kind: 'get', version, model } : { kind: 'apiNotFound' };
  if (method !== 'POST') return { kind: 'apiNotFound' };
  if (verb === 'generateContent') return { kind: 'generate', version, model, stream: false };
  if (verb === 'streamGenerateContent') return { kind: 'generate', version, model, stream: true };
  if (verb === 'countTokens') return { kind: 'countTokens', version, model };
  return { kind: 'apiNotFound' };
}

/** Google's front end answers paths outside the API with an HTML page. */
function htmlNotFound(path: string): string {
  const shown = path.replace(/[<>&"]/g, '');
  return `<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>${shown}</code> was not found on this server.  <ins>That’s all we know.</ins>\n`;
}

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

function pageToken(offset: number): string {
  return Buffer.from(`models-offset:${offset}`).toString('base64url');
}

function pageOffset(token: string | undefined): number | undefined {
  if (token === undefined || token === '') return 0;
  const m = /^models-offset:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('latin1'));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function flattenHeaders(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

export function startMockGoogle(opts: MockGoogleOptions = {}): Promise<MockGoogle> {
  const apiKeys = new Set(opts.apiKeys ?? ['test-google-key']);
  const imageBytes = opts.imageBytes ?? {};
  const record = opts.recordRequests ?? true;
  const received: ReceivedRequest[] = [];
  const answered: SentAnswer[] = [];
  const queue: Fault[] = [];
  const modelFaults = new Map<string, Fault>();
  const keyFaults = new Map<string, Fault>();
  const images = new Map<number, ImageAsset>();
  const tiny = tinyPng();
  const open = new Set<ServerResponse>();
  let baseUrl = '';
  let interimCount = opts.interimImages ?? 0;
  const interimAssets = [0, 1, 2, 3].map((i) => interimPng(i).base64);

  function image(size: string | undefined): ImageAsset {
    const key = (size ?? 'default') as keyof typeof imageBytes;
    const bytes = imageBytes[key] ?? imageBytes.default;
    if (bytes === undefined) return tiny;
    let asset = images.get(bytes);
    if (asset === undefined) {
      asset = paddedPng(bytes, bytes);
      images.set(bytes, asset);
    }
    return asset;
  }

  function jsonReply(status: number, body: unknown, startedMs: number): Reply {
    return { status, headers: googleHeaders(JSON_TYPE, startedMs), frames: [[Buffer.from(prettyJson(body), 'utf8')]] };
  }

  function errorReply(error: GoogleError, startedMs: number): Reply {
    return jsonReply(error.error.code, error, startedMs);
  }

  function statusReply(fault: Extract<Fault, { kind: 'status' }>, startedMs: number): Reply {
    const raw = typeof fault.body === 'string' || Buffer.isBuffer(fault.body);
    const body = fault.body === undefined ? prettyJson(errorForStatus(fault.status)) : raw ? fault.body : prettyJson(fault.body);
    const headers = { ...googleHeaders(raw ? 'text/html; charset=UTF-8' : JSON_TYPE, startedMs), ...fault.headers };
    return { status: fault.status, headers, frames: [[Buffer.isBuffer(body) ? body : Buffer.from(String(body), 'utf8')]] };
  }

  /** `signer`: the project the call is made in (its key; a Vertex project's name), which owns its files and signatures (#17.5). */
  function generationReply(model: MockModel, body: Buffer, stream: boolean, sse: boolean, outcome: Outcome, startedMs: number, signer: string): Reply {
    const parsed = parseGenerateRequest(model, body);
    if (!parsed.ok) return errorReply(parsed.error, startedMs);
    const foreign = unreadableFile(parsed.value.fileUris, (id) => batchApi.fileReadableBy(id, signer)) ?? foreignSignature(parsed.value.signatures, signer);
    if (foreign) return errorReply(foreign, startedMs);
    const responseId = randomBytes(17).toString('base64url');
    const answer = buildAnswer(model, parsed.value, responseId, outcome, { interimImages: interimAssets.slice(0, interimCount), signer });
    if (record) {
      const parts = ((answer.whole['candidates'] as Array<{ content?: { parts?: Array<{ thoughtSignature?: string }> } }> | undefined)?.[0]?.content?.parts ?? []);
      answered.push({ model: model.id, responseId, thoughtSignatures: parts.flatMap((p) => (p.thoughtSignature ? [p.thoughtSignature] : [])) });
    }
    const asset = answer.hasImage ? image(parsed.value.imageSize) : undefined;
    if (!stream) return { status: 200, headers: googleHeaders(JSON_TYPE, startedMs), frames: [toWire(prettyJson(answer.whole), asset)] };
    if (sse) {
      const headers = { ...googleHeaders('text/event-stream', startedMs), 'content-disposition': 'attachment' };
      return { status: 200, headers, frames: answer.chunks.map((c) => toWire(sseEvent(c), asset)) };
    }
    const last = answer.chunks.length - 1;
    const frames = answer.chunks.map((c, i) => toWire(`${i === 0 ? '[' : ',\r\n'}${prettyElement(c)}${i === last ? ']' : ''}`, asset));
    return { status: 200, headers: googleHeaders(JSON_TYPE, startedMs), frames };
  }

  /** `vertexCall`: a call on Vertex's paths, with its access token (for key faults) and its project. */
  async function generate(req: IncomingMessage, res: ServerResponse, model: MockModel, body: Buffer, stream: boolean, sse: boolean, startedMs: number, vertexCall?: { token: string; project: string }) {
    const key = vertexCall?.token ?? req.headers['x-goog-api-key'];
    const signer = vertexCall ? `vertex:${vertexCall.project}` : typeof key === 'string' ? key : '';
    const fault =
      (vertexCall ? vertexProjectFaults.get(vertexCall.project) : undefined) ?? (typeof key === 'string' ? keyFaults.get(key) : undefined) ?? modelFaults.get(model.id) ?? queue.shift();
    let pacing: Pacing | undefined;
    let outcome: Outcome = { kind: 'image' };
    switch (fault?.kind) {
      case undefined:
        break;
      case 'drop':
        req.socket.destroy();
        return;
      case 'hang':
        return;
      case 'breakOff': {
        const reply = generationReply(model, body, stream, sse, outcome, startedMs, signer);
        res.writeHead(reply.status, reply.headers);
        res.write(Buffer.concat(reply.frames.flat()).subarray(0, fault.afterBytes));
        // Let the first bytes leave before the connection goes.
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      case 'status':
        return writeReply(res, statusReply(fault, startedMs), undefined);
      case 'rateLimit':
        return writeReply(res, errorReply(rateLimitError({ model: model.id, retryDelay: fault.retryDelay, quotaId: fault.quotaId }), startedMs), undefined);
      case 'unavailable':
        return writeReply(res, errorReply(errors.unavailable(), startedMs), undefined);
      case 'internal':
        return writeReply(res, errorReply(errors.internal(), startedMs), undefined);
      case 'deadline':
        return writeReply(res, errorReply(errors.deadline(), startedMs), undefined);
      case 'delay':
        if (!(await waitOpen(res, fault.ms))) return;
        break;
      case 'slowBody':
        pacing = { chunkBytes: fault.chunkBytes, intervalMs: fault.intervalMs };
        break;
      case 'finish':
        outcome = { kind: 'finish', finishReason: fault.finishReason };
        break;
      case 'promptBlocked':
        outcome = { kind: 'promptBlocked', blockReason: fault.blockReason ?? 'PROHIBITED_CONTENT' };
        break;
      case 'textOnly':
        outcome = { kind: 'textOnly', text: fault.text ?? TEXT_ONLY_REPLY };
        break;
    }
    return writeReply(res, generationReply(model, body, stream, sse, outcome, startedMs, signer), pacing);
  }

  const batchApi = createMockBatches({ url: () => baseUrl, image, nowMs: () => Date.now() });
  const vertex = createMockVertex({ url: () => baseUrl, nowMs: () => Date.now() });
  for (const account of opts.serviceAccounts ?? []) vertex.addServiceAccount(account.email, account.publicKeyPem);
  const vertexProjectFaults = new Map<string, Fault>();

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer, startedMs: number): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://mock.invalid');
    const method = req.method ?? 'GET';
    const headers = flattenHeaders(req);
    const query = Object.fromEntries(url.searchParams);
    if (record) received.push({ method, path: url.pathname, query, headers, body });

    if (batchApi.matches(url.pathname)) {
      const key = headers['x-goog-api-key'] || query['key'];
      if (!key) return writeReply(res, errorReply(errors.missingKey(), startedMs), undefined);
      if (!apiKeys.has(key)) return writeReply(res, errorReply(errors.badKey(), startedMs), undefined);
      const write = (status: number, value: unknown, extra: Record<string, string> = {}) =>
        writeReply(res, { status, headers: { ...googleHeaders(JSON_TYPE, startedMs), ...extra }, frames: [[Buffer.from(value === '' ? '' : prettyJson(value), 'utf8')]] }, undefined);
      return batchApi.handle(req, res, url.pathname, query, body, write);
    }

    if (url.pathname === TOKEN_PATH && method === 'POST') {
      const answer = vertex.token(body);
      if (answer === 'hang') return;
      return writeReply(res, { status: answer.status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate' }, frames: [[Buffer.from(prettyJson(answer.body), 'utf8')]] }, undefined);
    }
    const v = vertexRoute(method, url.pathname);
    if (v) {
      if (v.kind === 'methodNotFound') return writeReply(res, errorReply(vertexErrors.methodNotFound(), startedMs), undefined);
      // Vertex takes OAuth access tokens only: an API key alone is refused, as Google does.
      if (!headers['authorization'] && (headers['x-goog-api-key'] || query['key'])) return writeReply(res, errorReply(vertexErrors.apiKeyNotSupported(), startedMs), undefined);
      const auth = vertex.validToken(headers['authorization']);
      if (!auth.ok) return writeReply(res, errorReply(auth.error, startedMs), undefined);
      const vModel = findModel(v.model);
      if (vModel === undefined) return writeReply(res, errorReply(vertexErrors.modelNotFound(v.project, v.location, v.model), startedMs), undefined);
      if (v.kind === 'countTokens') {
        const counted = countTokensAnswer(vModel, body);
        return writeReply(res, counted.ok ? jsonReply(200, counted.value, startedMs) : errorReply(counted.error, startedMs), undefined);
      }
      return generate(req, res, vModel, body, v.stream, query['alt'] === 'sse', startedMs, { token: auth.token, project: v.project });
    }

    const r = route(method, url.pathname);
    if (r.kind === 'notFound') {
      return writeReply(res, { status: 404, headers: googleHeaders('text/html; charset=UTF-8', startedMs), frames: [[Buffer.from(htmlNotFound(url.pathname))]] }, undefined);
    }
    if (r.kind === 'apiNotFound') return writeReply(res, errorReply(errors.methodNotFound(), startedMs), undefined);

    const key = headers['x-goog-api-key'] || query['key'];
    if (!key) {
      const bearer = /^Bearer\s/i.test(headers['authorization'] ?? '');
      return writeReply(res, errorReply(bearer ? errors.badBearer() : errors.missingKey(), startedMs), undefined);
    }
    if (!apiKeys.has(key)) return writeReply(res, errorReply(errors.badKey(), startedMs), undefined);

    if (r.kind === 'list') {
      const requested = Number(query['pageSize'] ?? DEFAULT_PAGE_SIZE);
      const size = Number.isInteger(requested) && requested > 0 ? Math.min(requested, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
      const offset = pageOffset(query['pageToken']);
      if (offset === undefined) return writeReply(res, errorReply(errors.invalidPageToken(), startedMs), undefined);
      const page = MOCK_MODELS.slice(offset, offset + size).map(modelResource);
      const next = offset + size < MOCK_MODELS.length ? { nextPageToken: pageToken(offset + size) } : {};
      return writeReply(res, jsonReply(200, { models: page, ...next }, startedMs), undefined);
    }

    const model = findModel(r.model);
    const method404 = r.kind === 'get' ? 'get' : r.kind === 'countTokens' ? 'countTokens' : r.stream ? 'streamGenerateContent' : 'generateContent';
    if (model === undefined) return writeReply(res, errorReply(errors.modelNotFound(r.model, r.version, method404), startedMs), undefined);

    if (r.kind === 'get') return writeReply(res, jsonReply(200, modelResource(model), startedMs), undefined);
    if (r.kind === 'countTokens') {
      const counted = countTokensAnswer(model, body);
      return writeReply(res, counted.ok ? jsonReply(200, counted.value, startedMs) : errorReply(counted.error, startedMs), undefined);
    }
    return generate(req, res, model, body, r.stream, query['alt'] === 'sse', startedMs);
  }

  const server = createServer((req, res) => {
    const startedMs = performance.now();
    open.add(res);
    res.once('close', () => open.delete(res));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks), startedMs).catch((err: unknown) => {
        // A bug in the mock must fail the test loudly, not look like a Google outage.
        console.error('mock-google handler failed', err);
        res.destroy();
      });
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      const { port, address, family } = server.address() as AddressInfo;
      const host = family === 'IPv6' ? `[${address}]` : address;
      baseUrl = `http://${host}:${port}`;
      resolve({
        url: baseUrl,
        received,
        answered,
        enqueue: (...faults) => void queue.push(...faults),
        setModelFault: (model, fault) => void (fault === undefined ? modelFaults.delete(model) : modelFaults.set(model, fault)),
        setKeyFault: (apiKey, fault) => void (fault === undefined ? keyFaults.delete(apiKey) : keyFaults.set(apiKey, fault)),
        setVertexProjectFault: (project, fault) => void (fault === undefined ? vertexProjectFaults.delete(project) : vertexProjectFaults.set(project, fault)),
        reset: () => {
          received.length = 0;
          answered.length = 0;
          queue.length = 0;
          modelFaults.clear();
          keyFaults.clear();
          vertexProjectFaults.clear();
          batchApi.reset();
          vertex.reset();
        },
        close: async () => {
          const closed = new Promise<void>((done, fail) => server.close((err) => (err ? fail(err) : done())));
          const answersEnded = [...open].map((res) => once(res, 'close'));
          server.closeAllConnections();
          await Promise.all([closed, ...answersEnded]);
        },
        imageBase64: (size) => image(size).base64,
        openRequests: () => open.size,
        batches: batchApi,
        vertex,
        setInterimImages: (count) => {
          if (!Number.isInteger(count) || count < 0 || count > interimAssets.length) throw new Error(`mock-google: interim images must be 0-${interimAssets.length}`);
          interimCount = count;
        },
        interimImageBase64: (index) => {
          const b64 = interimAssets[index];
          if (b64 === undefined) throw new Error(`mock-google: no interim image ${index}`);
          return b64;
        },
      });
    });
  });
}
