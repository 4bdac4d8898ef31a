/**
 * The Files API pieces batches need (#16), owned by tenants. Every upload goes on to Google as
 * it arrives (the gateway keeps no copy: Google holds the file, the database its name, owner and
 * what the gateway learnt of it), and is counted on the way (request-stats.ts), since Google
 * never gives an uploaded file back. A resumable upload's state is its database row, so each
 * chunk may reach any instance.
 *
 * A file the caller's tenant did not make is NOT_FOUND, as if it did not exist: names are the
 * gateway's own and looked up with the owner, never passed to Google.
 */
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import type { StoredBatch, StoredBatchFile, StoredUploadSession } from '../db/batch-store.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ProjectRuntime } from '../relay/gemini-relay.js';
import type { Caller } from '../tenants/registry.js';
import type { Clock } from '../time/clock.js';
import type { UpstreamResponse } from '../upstream/client.js';
import { fileDoc, type FileDoc } from '../batch/batch-doc.js';
import { googleFailure, uploadPathOf, type GoogleBatchClient } from '../batch/google-client.js';
import { fileIdFrom, fileNameOf, newObjectId, resultFileIdOf } from '../batch/names.js';
import { newRequestStatsState, RequestStatsScanner, type RequestStats, type RequestStatsState } from '../batch/request-stats.js';

/** Google's limit per file (rate-limits page, Batch section). */
export const MAX_FILE_BYTES = 2 * 1024 ** 3;
/** Files are kept 48 hours at Google. */
const FILE_TTL_MS = 48 * 3600_000;
/** How long a resumable upload may take between its start and its last chunk. */
const SESSION_TTL_MS = 24 * 3600_000;

interface SessionDoc {
  googleUploadPath: string;
  declaredBytes: number;
  mimeType: string;
  displayName?: string;
  scan: RequestStatsState;
}

export interface FileServiceDeps {
  db: Database;
  google: GoogleBatchClient;
  clock: Clock;
  logger: Logger;
  /** The upstream base URL: Google's session URLs must be on its origin. */
  upstreamBaseUrl: string;
  projects: ReadonlyMap<string, ProjectRuntime>;
}

export type ChunkResult = { final: false; receivedBytes: number } | { final: true; file: StoredBatchFile };

/** Google's Files and Batch APIs are the Gemini API's: a Vertex AI project (#17.3) has neither here. */
export function vertexHasNoFilesApi(projectId: string): GatewayError {
  return new GatewayError(
    'NOT_IMPLEMENTED',
    `Project ${projectId} is a Vertex AI project: Google's Files and Batch APIs belong to the Gemini API, so this gateway offers file uploads and batches only on Gemini API projects.`,
  );
}

const notFound = (name: string) => new GatewayError('NOT_FOUND', `Requested entity was not found: ${name} does not exist.`);

/** The size every request asks for, when they all ask the same one. */
export function uniformImageSize(stats: RequestStats): string | null {
  const sizes = Object.keys(stats.bySize);
  return sizes.length === 1 && sizes[0] !== 'default' ? sizes[0]! : null;
}

export class FileService {
  readonly #d: FileServiceDeps;

  constructor(deps: FileServiceDeps) {
    this.#d = deps;
  }

  projectOf(caller: Caller): ProjectRuntime {
    const p = this.#d.projects.get(caller.tenant.projectId);
    if (!p) throw new GatewayError('INTERNAL', `Tenant ${caller.tenant.id} names project ${caller.tenant.projectId}, which is not configured.`);
    if (p.vertex) throw vertexHasNoFilesApi(p.id);
    if (!p.apiKey) throw new GatewayError('UPSTREAM_UNAVAILABLE', `Project ${p.id} has no Google API key configured; the operator must set it (GEMINI_API_KEY).`);
    return p;
  }

  /** Starts a resumable upload at Google and keeps its session under a gateway id. */
  async startResumable(caller: Caller, meta: { declaredBytes: number; mimeType: string; displayName?: string }): Promise<StoredUploadSession> {
    if (!Number.isSafeInteger(meta.declaredBytes) || meta.declaredBytes <= 0) {
      throw new GatewayError('INVALID_ARGUMENT', 'X-Goog-Upload-Header-Content-Length must give the file size in bytes.', { param: 'X-Goog-Upload-Header-Content-Length' });
    }
    if (meta.declaredBytes > MAX_FILE_BYTES) throw new GatewayError('INVALID_ARGUMENT', `A file may have at most ${MAX_FILE_BYTES} bytes (2 GB).`);
    const project = this.projectOf(caller);
    const answer = await this.#d.google.startUpload(project, meta);
    if (!answer.ok) throw googleFailure(answer);
    const url = answer.headers['x-goog-upload-url'];
    const path = typeof url === 'string' ? uploadPathOf(url, this.#d.upstreamBaseUrl) : undefined;
    if (!path) throw new GatewayError('UPSTREAM_UNAVAILABLE', "Google's answer to the upload start had no usable X-Goog-Upload-URL.");
    const nowMs = this.#d.clock.nowMs();
    const doc: SessionDoc = { googleUploadPath: path, declaredBytes: meta.declaredBytes, mimeType: meta.mimeType, ...(meta.displayName !== undefined ? { displayName: meta.displayName } : {}), scan: newRequestStatsState() };
    const session: StoredUploadSession = {
      id: newObjectId(),
      tenantId: caller.tenant.id,
      keyId: caller.keyId,
      projectId: project.id,
      receivedBytes: 0,
      createdAtMs: nowMs,
      expiresAtMs: nowMs + SESSION_TTL_MS,
      doc: doc as unknown as Record<string, unknown>,
    };
    await this.#d.db.createUploadSession(session);
    return session;
  }

  async #ownedSession(caller: Caller, id: string): Promise<StoredUploadSession> {
    const s = /^[0-9a-f]{20}$/.test(id) ? await this.#d.db.getUploadSession(id) : undefined;
    if (!s || s.tenantId !== caller.tenant.id || s.expiresAtMs <= this.#d.clock.nowMs()) throw notFound(`upload ${id}`);
    return s;
  }

  /** Bytes the session has taken so far (X-Goog-Upload-Command: query). */
  async sessionReceived(caller: Caller, id: string): Promise<number> {
    return (await this.#ownedSession(caller, id)).receivedBytes;
  }

  async cancelSession(caller: Caller, id: string): Promise<void> {
    await this.#ownedSession(caller, id);
    await this.#d.db.deleteUploadSession(id);
  }

  /**
   * One chunk: counted, forwarded to Google's session at the same offset (Google checks it),
   * then the session row moves on; the last chunk makes the file.
   */
  async uploadChunk(caller: Caller, id: string, chunk: { offset: number; body: Buffer; finalize: boolean }): Promise<ChunkResult> {
    const session = await this.#ownedSession(caller, id);
    const doc = session.doc as unknown as SessionDoc;
    if (chunk.offset !== session.receivedBytes) {
      throw new GatewayError('INVALID_ARGUMENT', `The upload is at byte ${session.receivedBytes}, not ${chunk.offset}: send X-Goog-Upload-Offset: ${session.receivedBytes}.`, { param: 'X-Goog-Upload-Offset' });
    }
    const after = session.receivedBytes + chunk.body.length;
    if (after > doc.declaredBytes) throw new GatewayError('INVALID_ARGUMENT', `The upload was declared as ${doc.declaredBytes} bytes; this chunk goes past that.`);
    if (chunk.finalize && after !== doc.declaredBytes) throw new GatewayError('INVALID_ARGUMENT', `The upload was declared as ${doc.declaredBytes} bytes but ends at ${after}.`);
    const scanner = new RequestStatsScanner(doc.scan);
    scanner.write(chunk.body);
    const project = this.projectOf(caller);
    const answer = await this.#d.google.uploadChunk(project, doc.googleUploadPath, chunk.body, chunk.offset, chunk.finalize);
    if (!answer.ok) throw googleFailure(answer);
    if (!chunk.finalize) {
      if (!(await this.#d.db.advanceUploadSession(id, session.receivedBytes, after, { ...doc, scan: scanner.state } as unknown as Record<string, unknown>))) {
        throw new GatewayError('CONFLICT', 'Another chunk of this upload was taken at the same offset.');
      }
      return { final: false, receivedBytes: after };
    }
    const file = await this.#register(caller, project, answer.json['file'], { mimeType: doc.mimeType, ...(doc.displayName !== undefined ? { displayName: doc.displayName } : {}), sizeBytes: after }, scanner.finish());
    await this.#d.db.deleteUploadSession(id);
    return { final: true, file };
  }

  /** A whole file in one request (multipart, a bare body, or the OpenAI face's translated input). */
  async uploadWhole(caller: Caller, upload: { bytes: Buffer; mimeType: string; displayName?: string; openai?: FileDoc['openai'] }): Promise<StoredBatchFile> {
    if (upload.bytes.length === 0) throw new GatewayError('INVALID_ARGUMENT', 'The file is empty.');
    if (upload.bytes.length > MAX_FILE_BYTES) throw new GatewayError('INVALID_ARGUMENT', `A file may have at most ${MAX_FILE_BYTES} bytes (2 GB).`);
    const scanner = new RequestStatsScanner();
    scanner.write(upload.bytes);
    const project = this.projectOf(caller);
    const answer = await this.#d.google.uploadMultipart(project, upload, upload.bytes);
    if (!answer.ok) throw googleFailure(answer);
    return this.#register(
      caller,
      project,
      answer.json['file'],
      { mimeType: upload.mimeType, ...(upload.displayName !== undefined ? { displayName: upload.displayName } : {}), sizeBytes: upload.bytes.length, ...(upload.openai ? { openai: upload.openai } : {}) },
      scanner.finish(),
    );
  }

  async #register(
    caller: Caller,
    project: ProjectRuntime,
    googleFile: unknown,
    meta: { mimeType: string; displayName?: string; sizeBytes: number; openai?: FileDoc['openai'] },
    scan: { stats: RequestStats; error: string | null },
  ): Promise<StoredBatchFile> {
    const g = (googleFile && typeof googleFile === 'object' ? googleFile : {}) as Record<string, unknown>;
    if (typeof g['name'] !== 'string') throw new GatewayError('UPSTREAM_UNAVAILABLE', "Google's answer to the upload named no file.");
    const nowMs = this.#d.clock.nowMs();
    const expiration = typeof g['expirationTime'] === 'string' ? Date.parse(g['expirationTime']) : Number.NaN;
    const doc: FileDoc = {
      ...(meta.displayName !== undefined ? { displayName: meta.displayName } : {}),
      mimeType: meta.mimeType,
      sizeBytes: meta.sizeBytes,
      ...(typeof g['sha256Hash'] === 'string' ? { sha256Hash: g['sha256Hash'] } : {}),
      source: 'UPLOADED',
      google: { ...(typeof g['createTime'] === 'string' ? { createTime: g['createTime'] } : {}), ...(typeof g['expirationTime'] === 'string' ? { expirationTime: g['expirationTime'] } : {}) },
      ...(scan.error === null ? { stats: scan.stats, imageSize: uniformImageSize(scan.stats) } : { statsError: scan.error }),
      ...(meta.openai ? { openai: meta.openai } : {}),
    };
    const file: StoredBatchFile = {
      name: fileNameOf(newObjectId()),
      tenantId: caller.tenant.id,
      keyId: caller.keyId,
      projectId: project.id,
      googleName: g['name'],
      purpose: scan.error === null ? 'batch' : 'user_data',
      createdAtMs: nowMs,
      expiresAtMs: Number.isFinite(expiration) ? expiration : nowMs + FILE_TTL_MS,
      deletedAtMs: null,
      doc: doc as unknown as Record<string, unknown>,
    };
    await this.#d.db.createBatchFile(file);
    return file;
  }

  /** The caller's tenant's live file, or NOT_FOUND. Accepts `files/<id>`, `<id>`, and the OpenAI face's `file-<id>`. */
  async get(caller: Caller, raw: string): Promise<StoredBatchFile> {
    const id = fileIdFrom(raw.startsWith('file-') ? raw.slice('file-'.length) : raw);
    const f = id === undefined ? undefined : await this.#d.db.getBatchFile(fileNameOf(id));
    if (!f || f.tenantId !== caller.tenant.id || f.deletedAtMs !== null) throw notFound(raw.startsWith('files/') || raw.startsWith('file-') ? raw : `files/${raw}`);
    return f;
  }

  /**
   * A file a generateContent request names (#17.5): the project it was uploaded to and Google's
   * URI for it; undefined when it is not the caller's tenant's (or not one of the gateway's
   * names at all). Expired: refused here, not by a 403 from Google about a name the tenant never saw.
   */
  async forCall(caller: Caller, name: string): Promise<{ projectId: string; googleUri: string } | undefined> {
    const file = await this.get(caller, name).catch((e: unknown) => {
      if (e instanceof GatewayError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    });
    if (!file) return undefined;
    if (file.expiresAtMs !== null && file.expiresAtMs <= this.#d.clock.nowMs()) {
      throw new GatewayError('INVALID_ARGUMENT', `${file.name} expired at ${new Date(file.expiresAtMs).toISOString()} (Google keeps files 48 hours): upload it again.`, { param: 'fileData.fileUri' });
    }
    return { projectId: file.projectId, googleUri: `${this.#d.upstreamBaseUrl.replace(/\/+$/, '')}/v1beta/${file.googleName}` };
  }

  /** One page of the tenant's files, newest first; the page token is the last name of the previous page. */
  async list(caller: Caller, opts: { pageSize: number; pageToken?: string; purpose?: string }): Promise<{ files: StoredBatchFile[]; nextPageToken?: string }> {
    let before: { createdAtMs: number; name: string } | undefined;
    if (opts.pageToken) {
      const last = await this.get(caller, Buffer.from(opts.pageToken, 'base64url').toString()).catch(() => undefined);
      if (!last) throw new GatewayError('INVALID_ARGUMENT', 'Invalid page token.', { param: 'pageToken' });
      before = { createdAtMs: last.createdAtMs, name: last.name };
    }
    const rows = await this.#d.db.listBatchFiles({ tenantId: caller.tenant.id, limit: opts.pageSize + 1, ...(opts.purpose ? { purpose: opts.purpose } : {}), ...(before ? { before } : {}) });
    const files = rows.slice(0, opts.pageSize);
    const more = rows.length > opts.pageSize;
    return { files, ...(more ? { nextPageToken: Buffer.from(files.at(-1)!.name).toString('base64url') } : {}) };
  }

  /** Deletes at Google (gone there already is fine), then here. */
  async delete(caller: Caller, raw: string): Promise<StoredBatchFile> {
    const f = await this.get(caller, raw);
    const answer = await this.#d.google.deleteFile(this.projectOf(caller), f.googleName);
    if (!answer.ok && answer.status !== 404) throw googleFailure(answer);
    await this.#d.db.deleteBatchFile(f.name, this.#d.clock.nowMs());
    return f;
  }

  /** A result file's bytes from Google, as a stream (uploaded files cannot be read back from Google). */
  async download(caller: Caller, raw: string, signal?: AbortSignal): Promise<{ file: StoredBatchFile; answer: Extract<UpstreamResponse, { ok: true }> }> {
    const file = await this.get(caller, raw);
    if (fileDoc(file).source !== 'GENERATED') {
      throw new GatewayError('INVALID_ARGUMENT', `${file.name} was uploaded; only generated files (batch results) can be downloaded.`);
    }
    const answer = await this.#d.google.download(this.projectOf(caller), file.googleName, signal);
    if (!answer.ok) throw googleFailure(answer);
    return { file, answer };
  }

  /**
   * Registers a batch's result file under a name fixed by the batch, for its tenant: the first
   * instance to see it wins, the others find it there.
   */
  async registerResultFile(batch: StoredBatch, googleName: string, extra: Partial<FileDoc> = {}): Promise<string> {
    const name = fileNameOf(resultFileIdOf(batch.name.slice('batches/'.length)));
    const nowMs = this.#d.clock.nowMs();
    const doc: FileDoc = { mimeType: 'application/jsonl', sizeBytes: 0, source: 'GENERATED', google: {}, batch: batch.name, ...extra };
    const project = this.#d.projects.get(batch.projectId);
    if (project?.apiKey) {
      // Size and times as Google has them; a failure here only leaves them out.
      const meta = await this.#d.google.getFile(project, googleName).catch(() => undefined);
      if (meta?.ok) {
        const size = Number(meta.json['sizeBytes']);
        if (Number.isFinite(size)) doc.sizeBytes = size;
        if (typeof meta.json['createTime'] === 'string') doc.google.createTime = meta.json['createTime'];
        if (typeof meta.json['expirationTime'] === 'string') doc.google.expirationTime = meta.json['expirationTime'];
      }
    }
    const expiration = doc.google.expirationTime ? Date.parse(doc.google.expirationTime) : Number.NaN;
    await this.#d.db.createBatchFile({
      name,
      tenantId: batch.tenantId,
      keyId: batch.keyId,
      projectId: batch.projectId,
      googleName,
      purpose: 'batch_output',
      createdAtMs: nowMs,
      expiresAtMs: Number.isFinite(expiration) ? expiration : nowMs + FILE_TTL_MS,
      deletedAtMs: null,
      doc: doc as unknown as Record<string, unknown>,
    });
    return name;
  }
}
