/**
 * Google's Batch and Files API calls (docs/google-batch-api.md), through the one upstream
 * client: the project's key in x-goog-api-key, the retry policy, the timeouts. Always v1beta,
 * where these methods are documented, whatever version the tenant's SDK used. Small answers are
 * read whole (capped); an operation with inline responses and a result file are streams.
 */
import { GatewayError } from '../errors/gateway-error.js';
import { parseGoogleError } from '../gemini/errors.js';
import type { AnswerBody } from '../upstream/answer-body.js';
import type { UpstreamClient, UpstreamResponse } from '../upstream/client.js';

export interface GoogleProject {
  id: string;
  apiKey: string;
}

/** Google's answer when it was not a success: its status and body, relayed or translated by the caller. */
export interface GoogleFailure {
  ok: false;
  status: number;
  body: Buffer;
  retryAfterMs?: number;
}

export type GoogleJson = { ok: true; status: number; headers: Record<string, string | string[] | undefined>; json: Record<string, unknown> } | GoogleFailure;

/** Small JSON answers (an operation without inline responses, a File, a list page) are read up to this. */
const SMALL_ANSWER_BYTES = 16 * 1024 * 1024;

/** Reads a success body whole, up to `capBytes`. */
export function readWhole(body: AnswerBody, capBytes = SMALL_ANSWER_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.attach({
      data: (chunk) => {
        size += chunk.length;
        if (size > capBytes) {
          body.destroy(new Error(`Google's answer is over ${capBytes} bytes`));
          return false;
        }
        chunks.push(chunk);
        return true;
      },
      end: () => resolve(Buffer.concat(chunks)),
      error: reject,
    });
  });
}

function parseJsonObject(buf: Buffer): Record<string, unknown> {
  if (buf.length === 0) return {};
  const parsed: unknown = JSON.parse(buf.toString('utf8'));
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
  return parsed as Record<string, unknown>;
}

/** A Google error answer as the error the faces relay (native: Google's body as is) or translate. */
export function googleFailure(f: GoogleFailure): GatewayError {
  const google = parseGoogleError(f.body);
  const message = google?.error.message ?? `Google answered HTTP ${f.status}.`;
  return new GatewayError('UPSTREAM_ERROR', message, {
    upstream: {
      httpStatus: f.status,
      googleStatus: google?.error.status ?? 'UNKNOWN',
      message,
      ...(f.retryAfterMs !== undefined ? { retryAfterMs: f.retryAfterMs } : {}),
      ...(google ? { body: google } : {}),
    },
  });
}

export class GoogleBatchClient {
  readonly #upstream: UpstreamClient;

  constructor(upstream: UpstreamClient) {
    this.#upstream = upstream;
  }

  async #json(
    project: GoogleProject,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: Buffer,
    extra: { headers?: Record<string, string>; contentType?: string; signal?: AbortSignal } = {},
  ): Promise<GoogleJson> {
    const answer = await this.#upstream.send({
      method,
      path,
      apiKey: project.apiKey,
      ...(body ? { body } : {}),
      ...(extra.headers ? { headers: extra.headers } : {}),
      ...(extra.contentType ? { contentType: extra.contentType } : {}),
      ...(extra.signal ? { signal: extra.signal } : {}),
    });
    if (!answer.ok) return { ok: false, status: answer.status, body: answer.body, ...(answer.retryAfterMs !== undefined ? { retryAfterMs: answer.retryAfterMs } : {}) };
    const raw = await readWhole(answer.body);
    let json: Record<string, unknown>;
    try {
      json = parseJsonObject(raw);
    } catch {
      throw new GatewayError('UPSTREAM_UNAVAILABLE', `Google's answer to ${method} ${path.split('?')[0]} was not JSON.`);
    }
    return { ok: true, status: answer.status, headers: answer.headers, json };
  }

  createBatch(project: GoogleProject, model: string, body: Buffer): Promise<GoogleJson> {
    return this.#json(project, 'POST', `/v1beta/models/${model}:batchGenerateContent`, body);
  }

  /** The operation as a stream: with inline responses it can be hundreds of megabytes. */
  getBatchStream(project: GoogleProject, googleName: string, signal?: AbortSignal): Promise<UpstreamResponse> {
    return this.#upstream.send({ method: 'GET', path: `/v1beta/${googleName}`, apiKey: project.apiKey, ...(signal ? { signal } : {}) });
  }

  listBatches(project: GoogleProject, pageToken: string | undefined): Promise<GoogleJson> {
    const q = new URLSearchParams({ pageSize: '100', ...(pageToken ? { pageToken } : {}) });
    return this.#json(project, 'GET', `/v1beta/batches?${q.toString()}`);
  }

  cancelBatch(project: GoogleProject, googleName: string): Promise<GoogleJson> {
    return this.#json(project, 'POST', `/v1beta/${googleName}:cancel`, Buffer.from('{}'));
  }

  deleteBatch(project: GoogleProject, googleName: string): Promise<GoogleJson> {
    return this.#json(project, 'DELETE', `/v1beta/${googleName}`);
  }

  /** Starts a resumable upload; Google's session URL is in X-Goog-Upload-URL. */
  startUpload(project: GoogleProject, meta: { declaredBytes: number; mimeType: string; displayName?: string }): Promise<GoogleJson> {
    const file = { ...(meta.displayName !== undefined ? { displayName: meta.displayName } : {}), mimeType: meta.mimeType };
    return this.#json(project, 'POST', '/upload/v1beta/files', Buffer.from(JSON.stringify({ file })), {
      headers: {
        'x-goog-upload-protocol': 'resumable',
        'x-goog-upload-command': 'start',
        'x-goog-upload-header-content-length': String(meta.declaredBytes),
        'x-goog-upload-header-content-type': meta.mimeType,
      },
    });
  }

  /** One chunk to Google's session (`path` is its URL's path and query). */
  uploadChunk(project: GoogleProject, path: string, chunk: Buffer, offset: number, finalize: boolean): Promise<GoogleJson> {
    return this.#json(project, 'POST', path, chunk, {
      contentType: 'application/octet-stream',
      headers: { 'x-goog-upload-command': finalize ? 'upload, finalize' : 'upload', 'x-goog-upload-offset': String(offset) },
    });
  }

  /** A whole file in one multipart/related request (the gateway's own uploads: translated OpenAI input). */
  uploadMultipart(project: GoogleProject, meta: { mimeType: string; displayName?: string }, bytes: Buffer): Promise<GoogleJson> {
    const boundary = `nanogate${Date.now().toString(36)}${bytes.length.toString(36)}`;
    const metadata = JSON.stringify({ file: { ...(meta.displayName !== undefined ? { displayName: meta.displayName } : {}), mimeType: meta.mimeType } });
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/json; charset=utf-8\r\n\r\n${metadata}\r\n--${boundary}\r\nContent-Type: ${meta.mimeType}\r\n\r\n`),
      bytes,
      Buffer.from(`\r\n--${boundary}--`),
    ]);
    return this.#json(project, 'POST', '/upload/v1beta/files', body, {
      contentType: `multipart/related; boundary=${boundary}`,
      headers: { 'x-goog-upload-protocol': 'multipart' },
    });
  }

  getFile(project: GoogleProject, googleName: string): Promise<GoogleJson> {
    return this.#json(project, 'GET', `/v1beta/${googleName}`);
  }

  deleteFile(project: GoogleProject, googleName: string): Promise<GoogleJson> {
    return this.#json(project, 'DELETE', `/v1beta/${googleName}`);
  }

  /** A generated file's bytes, as a stream. */
  download(project: GoogleProject, googleName: string, signal?: AbortSignal): Promise<UpstreamResponse> {
    return this.#upstream.send({ method: 'GET', path: `/download/v1beta/${googleName}:download?alt=media`, apiKey: project.apiKey, ...(signal ? { signal } : {}) });
  }
}

/**
 * The path and query of Google's upload session URL relative to the upstream base URL (which the
 * upstream client puts back in front), if it is on that origin: the project's key goes with
 * every request, so a session URL elsewhere is never followed.
 */
export function uploadPathOf(uploadUrl: string, upstreamBaseUrl: string): string | undefined {
  try {
    const u = new URL(uploadUrl);
    const base = new URL(upstreamBaseUrl);
    if (u.origin !== base.origin) return undefined;
    const basePath = base.pathname.replace(/\/+$/, '');
    const path = basePath && u.pathname.startsWith(`${basePath}/`) ? u.pathname.slice(basePath.length) : u.pathname;
    return `${path}${u.search}`;
  } catch {
    return undefined;
  }
}
