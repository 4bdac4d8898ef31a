/**
 * Google's Batch API and the Files API pieces it needs, as docs/google-batch-api.md describes
 * them: uploads (resumable and multipart), files, batches from inline requests or a JSONL file,
 * and their lifecycle, moved by the test (`advanceBatches`) rather than by timers:
 *
 *   PENDING -> RUNNING -> SUCCEEDED (every response), or, when asked, FAILED / CANCELLED /
 *   EXPIRED with the first `done` responses. :cancel cancels at once.
 *
 * Responses are built like generateContent's (answers.ts): the same usageMetadata arithmetic,
 * so a batch's metering can be checked against the synchronous prices. A batch from a file
 * answers with a result file `files/batch-<id>` whose JSONL lines are generated while they are
 * downloaded (a 10,000-request result is never held whole by the mock either).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildAnswer, parseGenerateRequest } from './answers.js';
import type { ImageAsset } from './images.js';
import { findModel } from './models.js';
import { compactJson, errors, googleError, prettyJson, toWire, type GoogleError } from './wire.js';

const TYPE = 'type.googleapis.com/google.ai.generativelanguage.v1beta.';
const FILE_TTL_MS = 48 * 3600_000;

type Json = Record<string, unknown>;
export type MockBatchState = 'BATCH_STATE_PENDING' | 'BATCH_STATE_RUNNING' | 'BATCH_STATE_SUCCEEDED' | 'BATCH_STATE_FAILED' | 'BATCH_STATE_CANCELLED' | 'BATCH_STATE_EXPIRED';

export interface MockFile {
  id: string;
  displayName?: string;
  mimeType: string;
  bytes: Buffer;
  createTimeMs: number;
  source: 'UPLOADED' | 'GENERATED';
  /** A result file: the batch whose responses it holds. */
  batchId?: string;
  /** The Google key whose project uploaded it: generateContent may read it with that key only (#17.5). */
  owner?: string;
}

interface MockRequest {
  key: string | undefined;
  metadata: unknown;
  request: Json;
}

export interface MockBatch {
  id: string;
  model: string;
  displayName: string | undefined;
  state: MockBatchState;
  createTimeMs: number;
  updateTimeMs: number;
  endTimeMs?: number;
  input: 'inline' | 'file';
  inputFile?: string;
  requests: MockRequest[];
  /** Responses produced when it ended (SUCCEEDED: all). */
  done: number;
  /** Request indexes answered with an error status instead of a response. */
  failRequests: ReadonlySet<number>;
}

interface UploadSession {
  id: string;
  displayName?: string;
  mimeType: string;
  declaredBytes: number;
  chunks: Buffer[];
  received: number;
  owner: string;
}

export interface AdvanceOptions {
  /** Only this batch (Google's name or id); default every batch. */
  name?: string;
  /** Where a running batch goes; default SUCCEEDED. */
  to?: 'BATCH_STATE_SUCCEEDED' | 'BATCH_STATE_FAILED' | 'BATCH_STATE_CANCELLED' | 'BATCH_STATE_EXPIRED';
  /** For FAILED / CANCELLED / EXPIRED: how many responses (the first ones) were done. Default 0. */
  done?: number;
  /** Request indexes answered with an error status (a request Google could not process). */
  failRequests?: readonly number[];
}

export interface MockBatchesControl {
  /** Moves every batch (or `name`) one step: PENDING -> RUNNING -> `to` (default SUCCEEDED). */
  advanceBatches(opts?: AdvanceOptions): void;
  /** Moves a batch straight to its end (two steps). */
  finishBatches(opts?: AdvanceOptions): void;
  batches(): readonly MockBatch[];
  files(): readonly MockFile[];
  /**
   * Whether a generateContent request made with `key` may read the file a fileUri names
   * (`files/<id>` or `…/v1beta/files/<id>`): it exists and that key's project uploaded it.
   */
  fileReadableBy(id: string, key: string): boolean;
  /** Result-file downloads write this many lines, then wait `intervalMs`, until unset. */
  setResultPacing(pacing: { lines: number; intervalMs: number } | undefined): void;
  reset(): void;
}

export interface BatchRoutesDeps {
  url: () => string;
  image: (size: string | undefined) => ImageAsset;
  nowMs: () => number;
}

export type Writer = (status: number, body: unknown, headers?: Record<string, string>) => Promise<void>;

const iso = (ms: number) => new Date(ms).toISOString();
const newId = () => randomBytes(8).toString('hex');

function fileResource(base: string, f: MockFile): Json {
  return {
    name: `files/${f.id}`,
    ...(f.displayName !== undefined ? { displayName: f.displayName } : {}),
    mimeType: f.mimeType,
    sizeBytes: String(f.bytes.length),
    createTime: iso(f.createTimeMs),
    updateTime: iso(f.createTimeMs),
    expirationTime: iso(f.createTimeMs + FILE_TTL_MS),
    sha256Hash: createHash('sha256').update(f.bytes).digest('base64'),
    uri: `${base}/v1beta/files/${f.id}`,
    ...(f.source === 'GENERATED' ? { downloadUri: `${base}/download/v1beta/files/${f.id}:download?alt=media` } : {}),
    state: 'ACTIVE',
    source: f.source,
  };
}

/** multipart/related: a JSON metadata part, then the media part (GoogleAIFileManager's form). */
function parseMultipartRelated(contentType: string, body: Buffer): { metadata: Json; mimeType: string; media: Buffer } | undefined {
  const boundary = /boundary=("?)([^";]+)\1/i.exec(contentType)?.[2];
  if (!boundary) return undefined;
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const next = body.indexOf(delimiter, at + delimiter.length);
    if (next < 0) break;
    parts.push(body.subarray(at + delimiter.length, next));
    at = next;
  }
  const parsed = parts.map((p) => {
    const text = p.subarray(0, Math.min(p.length, 1024)).toString('latin1');
    const headEnd = text.indexOf('\r\n\r\n');
    const head = text.slice(0, headEnd);
    let content = p.subarray(headEnd + 4);
    if (content.subarray(-2).toString('latin1') === '\r\n') content = content.subarray(0, -2);
    return { type: /content-type:\s*([^\r\n;]+)/i.exec(head)?.[1]?.trim() ?? 'application/octet-stream', content };
  });
  if (parsed.length < 2) return undefined;
  try {
    return { metadata: JSON.parse(parsed[0]!.content.toString('utf8')) as Json, mimeType: parsed[1]!.type, media: parsed[1]!.content };
  } catch {
    return undefined;
  }
}

function asObject(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
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

const notFound = (what: string): GoogleError => googleError(404, 'NOT_FOUND', `Requested entity was not found. (${what})`);

export function createMockBatches(deps: BatchRoutesDeps): MockBatchesControl & {
  matches(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: Record<string, string>, body: Buffer, write: Writer): Promise<void>;
} {
  const files = new Map<string, MockFile>();
  const batches = new Map<string, MockBatch>();
  const uploads = new Map<string, UploadSession>();
  let pacing: { lines: number; intervalMs: number } | undefined;

  const addFile = (f: Omit<MockFile, 'id' | 'createTimeMs'> & { id?: string }): MockFile => {
    const file: MockFile = { ...f, id: f.id ?? newId(), createTimeMs: deps.nowMs() };
    files.set(file.id, file);
    return file;
  };

  /** One request's answer object and whether it carries the image slot. */
  const answerFor = (b: MockBatch, index: number): { response?: Json; error?: Json; size: string | undefined } => {
    const r = b.requests[index]!;
    if (b.failRequests.has(index)) return { error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' }, size: undefined };
    const model = findModel(b.model)!;
    const parsed = parseGenerateRequest(model, Buffer.from(JSON.stringify(r.request)));
    if (!parsed.ok) return { error: parsed.error.error as unknown as Json, size: undefined };
    const answer = buildAnswer(model, parsed.value, `${b.id}-${index}`, { kind: 'image' });
    return { response: answer.whole, size: parsed.value.imageSize };
  };

  const operation = (b: MockBatch, withOutput: boolean): Json => {
    const terminal = b.state !== 'BATCH_STATE_PENDING' && b.state !== 'BATCH_STATE_RUNNING';
    const failed = [...b.failRequests].filter((i) => i < b.done).length;
    const stats: Json = { requestCount: String(b.requests.length) };
    if (b.done - failed > 0) stats['successfulRequestCount'] = String(b.done - failed);
    if (failed > 0) stats['failedRequestCount'] = String(failed);
    if (!terminal) stats['pendingRequestCount'] = String(b.requests.length);
    let output: Json | undefined;
    if (terminal && b.done > 0) {
      if (b.input === 'file') output = { responsesFile: `files/batch-${b.id}` };
      else if (withOutput) {
        output = {
          inlinedResponses: {
            inlinedResponses: b.requests.slice(0, b.done).map((r, i) => {
              const a = answerFor(b, i);
              return { ...(a.response ? { response: a.response } : { error: a.error }), ...(r.metadata !== undefined ? { metadata: r.metadata } : {}) };
            }),
          },
        };
      }
    }
    const metadata: Json = {
      '@type': `${TYPE}GenerateContentBatch`,
      model: `models/${b.model}`,
      ...(b.displayName !== undefined ? { displayName: b.displayName } : {}),
      ...(b.input === 'file' ? { inputConfig: { fileName: b.inputFile } } : {}),
      ...(output ? { output } : {}),
      createTime: iso(b.createTimeMs),
      ...(b.endTimeMs !== undefined ? { endTime: iso(b.endTimeMs) } : {}),
      updateTime: iso(b.updateTimeMs),
      batchStats: stats,
      state: b.state,
      name: `batches/${b.id}`,
    };
    return {
      name: `batches/${b.id}`,
      metadata,
      ...(terminal ? { done: true } : {}),
      // Google's reference has the output in the Operation's response too; nanogate must not count it twice.
      ...(terminal && output ? { response: { '@type': `${TYPE}GenerateContentBatchOutput`, ...output } } : {}),
      ...(b.state === 'BATCH_STATE_FAILED' ? { error: { code: 13, message: 'Batch failed.' } } : {}),
      ...(b.state === 'BATCH_STATE_CANCELLED' ? { error: { code: 1, message: 'Batch cancelled.' } } : {}),
    };
  };

  /** The operation as Google writes it: pretty JSON, image slots spliced with the request's size's image. */
  const writeOperation = async (res: ServerResponse, b: MockBatch) => {
    const text = prettyJson(operation(b, true));
    // Every response of one batch carries the image of its first request's size (the slot is one string).
    const firstSize = b.done > 0 ? answerFor(b, 0).size : undefined;
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    for (const f of toWire(text, deps.image(firstSize))) if (!res.write(f)) await drainedOrClosed(res);
    res.end();
  };

  const streamResults = async (res: ServerResponse, b: MockBatch) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-goog-stored-content-length': 'unknown' });
    let sinceWait = 0;
    for (let i = 0; i < b.done; i++) {
      if (res.destroyed) return;
      const a = answerFor(b, i);
      const key = b.requests[i]!.key;
      const line = compactJson({ ...(key !== undefined ? { key } : {}), ...(a.response ? { response: a.response } : { error: a.error }) });
      const pieces = toWire(`${line}\n`, a.response ? deps.image(a.size) : undefined);
      let more = true;
      for (const p of pieces) more = res.write(p);
      if (!more) await drainedOrClosed(res);
      if (pacing && ++sinceWait >= pacing.lines) {
        sinceWait = 0;
        await new Promise((r) => setTimeout(r, pacing!.intervalMs));
      }
    }
    res.end();
  };

  const findBatch = (id: string) => batches.get(id.replace(/^batches\//, ''));

  const step = (b: MockBatch, opts: AdvanceOptions) => {
    const now = deps.nowMs();
    if (b.state === 'BATCH_STATE_PENDING') b.state = 'BATCH_STATE_RUNNING';
    else if (b.state === 'BATCH_STATE_RUNNING') {
      const to = opts.to ?? 'BATCH_STATE_SUCCEEDED';
      b.state = to;
      b.done = to === 'BATCH_STATE_SUCCEEDED' ? b.requests.length : Math.min(b.requests.length, opts.done ?? 0);
      b.endTimeMs = now;
      if (b.input === 'file' && b.done > 0) addFile({ id: `batch-${b.id}`, mimeType: 'application/jsonl', bytes: Buffer.alloc(0), source: 'GENERATED', batchId: b.id });
    } else return;
    if (opts.failRequests) b.failRequests = new Set(opts.failRequests);
    b.updateTimeMs = now;
  };

  const control: MockBatchesControl = {
    advanceBatches(opts = {}) {
      for (const b of batches.values()) if (opts.name === undefined || findBatch(opts.name) === b) step(b, opts);
    },
    finishBatches(opts = {}) {
      control.advanceBatches(opts);
      control.advanceBatches(opts);
    },
    batches: () => [...batches.values()],
    files: () => [...files.values()],
    fileReadableBy(id, key) {
      const f = files.get(id);
      return f !== undefined && (f.owner === undefined || f.owner === key);
    },
    setResultPacing(p) {
      pacing = p;
    },
    reset() {
      files.clear();
      batches.clear();
      uploads.clear();
      pacing = undefined;
    },
  };

  async function handleUpload(req: IncomingMessage, query: Record<string, string>, body: Buffer, write: Writer): Promise<void> {
    const header = (n: string) => {
      const v = req.headers[n];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    const base = deps.url();
    // The project a file belongs to is the key's that uploaded it (a session's: the key that started it).
    const owner = header('x-goog-api-key') ?? query['key'] ?? '';
    const uploadId = query['upload_id'];
    if (uploadId !== undefined) {
      const s = uploads.get(uploadId);
      if (!s) return write(404, notFound(`upload ${uploadId}`));
      const command = (header('x-goog-upload-command') ?? '').split(',').map((c) => c.trim().toLowerCase());
      const offset = Number(header('x-goog-upload-offset') ?? '0');
      if (command.includes('upload')) {
        if (offset !== s.received) return write(400, googleError(400, 'INVALID_ARGUMENT', `Upload offset ${offset} does not match the ${s.received} bytes received.`));
        s.chunks.push(body);
        s.received += body.length;
      }
      if (!command.includes('finalize')) return write(200, '', { 'x-goog-upload-status': 'active', 'x-goog-upload-size-received': String(s.received) });
      uploads.delete(uploadId);
      const bytes = Buffer.concat(s.chunks);
      if (bytes.length !== s.declaredBytes) return write(400, googleError(400, 'INVALID_ARGUMENT', `Upload size ${bytes.length} does not match the declared ${s.declaredBytes}.`));
      const f = addFile({ ...(s.displayName !== undefined ? { displayName: s.displayName } : {}), mimeType: s.mimeType, bytes, source: 'UPLOADED', owner: s.owner });
      return write(200, { file: fileResource(base, f) }, { 'x-goog-upload-status': 'final' });
    }
    const protocol = (header('x-goog-upload-protocol') ?? '').toLowerCase();
    if (protocol === 'resumable') {
      if ((header('x-goog-upload-command') ?? '').toLowerCase() !== 'start') return write(400, errors.invalidArgument());
      let meta: Json | undefined;
      try {
        meta = body.length > 0 ? asObject(asObject(JSON.parse(body.toString('utf8')))?.['file']) : undefined;
      } catch {
        return write(400, errors.invalidJson('Unexpected token.'));
      }
      const declared = Number(header('x-goog-upload-header-content-length'));
      if (!Number.isInteger(declared) || declared < 0) return write(400, errors.invalidArgument());
      const s: UploadSession = {
        id: newId(),
        ...(typeof meta?.['displayName'] === 'string' ? { displayName: meta['displayName'] } : {}),
        mimeType: header('x-goog-upload-header-content-type') ?? (typeof meta?.['mimeType'] === 'string' ? meta['mimeType'] : 'application/octet-stream'),
        declaredBytes: declared,
        chunks: [],
        received: 0,
        owner,
      };
      uploads.set(s.id, s);
      return write(200, '', {
        'x-goog-upload-status': 'active',
        'x-goog-upload-url': `${base}/upload/v1beta/files?upload_id=${s.id}&upload_protocol=resumable`,
        'x-goog-upload-chunk-granularity': '8388608',
      });
    }
    if (protocol === 'multipart') {
      const parsed = parseMultipartRelated(header('content-type') ?? '', body);
      if (!parsed) return write(400, errors.invalidArgument());
      const meta = asObject(parsed.metadata['file']);
      const displayName = meta?.['displayName'] ?? meta?.['display_name'];
      const f = addFile({ ...(typeof displayName === 'string' ? { displayName } : {}), mimeType: parsed.mimeType, bytes: parsed.media, source: 'UPLOADED', owner });
      return write(200, { file: fileResource(base, f) });
    }
    // A bare media upload: the body is the file, its type the request's.
    const f = addFile({ mimeType: (header('content-type') ?? 'application/octet-stream').split(';')[0]!.trim(), bytes: body, source: 'UPLOADED', owner });
    return write(200, { file: fileResource(base, f) });
  }

  function parseRequests(model: string, inputConfig: Json | undefined): { requests: MockRequest[]; input: 'inline' | 'file'; inputFile?: string } | GoogleError {
    const fileName = inputConfig?.['fileName'] ?? inputConfig?.['file_name'];
    if (typeof fileName === 'string') {
      const f = files.get(fileName.replace(/^files\//, ''));
      if (!f || f.source !== 'UPLOADED') return notFound(fileName);
      const requests: MockRequest[] = [];
      const lines = f.bytes.toString('utf8').split('\n');
      for (const [i, line] of lines.entries()) {
        if (line.trim() === '') continue;
        let parsed: Json | undefined;
        try {
          parsed = asObject(JSON.parse(line));
        } catch {
          return googleError(400, 'INVALID_ARGUMENT', `Invalid JSON at line ${i + 1} of ${fileName}.`);
        }
        const request = asObject(parsed?.['request']);
        if (!request) return googleError(400, 'INVALID_ARGUMENT', `Line ${i + 1} of ${fileName} has no request.`);
        requests.push({ key: typeof parsed?.['key'] === 'string' ? parsed['key'] : undefined, metadata: undefined, request });
      }
      return { requests, input: 'file', inputFile: fileName };
    }
    const wrapper = asObject(inputConfig?.['requests']);
    const list = wrapper?.['requests'];
    if (!Array.isArray(list) || list.length === 0) return googleError(400, 'INVALID_ARGUMENT', '* batch.input_config: input_config is not specified\n');
    const requests: MockRequest[] = [];
    for (const item of list) {
      const request = asObject(asObject(item)?.['request']);
      if (!request) return googleError(400, 'INVALID_ARGUMENT', 'An inlined request has no request.');
      const metadata = asObject(item)?.['metadata'];
      const key = asObject(metadata)?.['key'];
      requests.push({ key: typeof key === 'string' ? key : undefined, metadata, request });
    }
    void model;
    return { requests, input: 'inline' };
  }

  return {
    ...control,
    matches: (path) => /^\/(upload\/|download\/)?(v1beta|v1)\/(files|batches)(\/|$)/.test(path) || /^\/(v1beta|v1)\/models\/[^/:]+:batchGenerateContent$/.test(path),

    async handle(req, res, path, query, body, write) {
      const method = req.method ?? 'GET';
      if (/^\/upload\/(v1beta|v1)\/files$/.test(path) && method === 'POST') return handleUpload(req, query, body, write);

      const create = /^\/(v1beta|v1)\/models\/([^/:]+):batchGenerateContent$/.exec(path);
      if (create && method === 'POST') {
        const model = findModel(decodeURIComponent(create[2]!));
        if (!model) return write(404, errors.modelNotFound(create[2]!, create[1]!, 'batchGenerateContent'));
        let root: Json | undefined;
        try {
          root = asObject(JSON.parse(body.toString('utf8')));
        } catch {
          return write(400, errors.invalidJson('Unexpected token.'));
        }
        const batch = asObject(root?.['batch']);
        const input = parseRequests(model.id, asObject(batch?.['inputConfig'] ?? batch?.['input_config']));
        if ('error' in input) return write(input.error.code, input);
        const now = deps.nowMs();
        const displayName = batch?.['displayName'] ?? batch?.['display_name'];
        const b: MockBatch = {
          id: newId(),
          model: model.id,
          displayName: typeof displayName === 'string' ? displayName : undefined,
          state: 'BATCH_STATE_PENDING',
          createTimeMs: now,
          updateTimeMs: now,
          ...input,
          done: 0,
          failRequests: new Set(),
        };
        batches.set(b.id, b);
        return write(200, operation(b, false));
      }

      const batchMatch = /^\/(v1beta|v1)\/batches(?:\/([^/:]+)(?::(cancel))?)?$/.exec(path);
      if (batchMatch) {
        const [, , id, verb] = batchMatch;
        if (id === undefined) {
          if (method !== 'GET') return write(404, errors.methodNotFound());
          const all = [...batches.values()].sort((a, b) => b.createTimeMs - a.createTimeMs || (a.id < b.id ? 1 : -1));
          const size = Math.min(Math.max(1, Number(query['pageSize'] ?? 50) || 50), 1000);
          const offset = query['pageToken'] ? Number(Buffer.from(query['pageToken'], 'base64url').toString()) : 0;
          const page = all.slice(offset, offset + size).map((b) => operation(b, false));
          return write(200, { operations: page, ...(offset + size < all.length ? { nextPageToken: Buffer.from(String(offset + size)).toString('base64url') } : {}) });
        }
        const b = findBatch(id);
        if (!b) return write(404, notFound(`batches/${id}`));
        if (verb === 'cancel' && method === 'POST') {
          if (b.state === 'BATCH_STATE_PENDING' || b.state === 'BATCH_STATE_RUNNING') {
            b.state = 'BATCH_STATE_CANCELLED';
            b.done = 0;
            b.endTimeMs = b.updateTimeMs = deps.nowMs();
          }
          return write(200, {});
        }
        if (verb === undefined && method === 'DELETE') {
          batches.delete(b.id);
          return write(200, {});
        }
        if (verb === undefined && method === 'GET') return writeOperation(res, b);
        return write(404, errors.methodNotFound());
      }

      const fileMatch = /^\/(?:download\/)?(v1beta|v1)\/files(?:\/([^/:]+)(?::(download))?)?$/.exec(path);
      if (fileMatch) {
        const [, , id, verb] = fileMatch;
        if (id === undefined) {
          if (method !== 'GET') return write(404, errors.methodNotFound());
          return write(200, { files: [...files.values()].map((f) => fileResource(deps.url(), f)) });
        }
        const f = files.get(id);
        if (!f) return write(404, notFound(`files/${id}`));
        if (verb === 'download' && method === 'GET') {
          if (f.source !== 'GENERATED' || f.batchId === undefined) return write(400, googleError(400, 'INVALID_ARGUMENT', 'Only generated files can be downloaded.'));
          const b = batches.get(f.batchId);
          if (!b) return write(404, notFound(`files/${id}`));
          return streamResults(res, b);
        }
        if (verb === undefined && method === 'GET') return write(200, fileResource(deps.url(), f));
        if (verb === undefined && method === 'DELETE') {
          files.delete(id);
          return write(200, {});
        }
      }
      return write(404, errors.methodNotFound());
    },
  };
}
