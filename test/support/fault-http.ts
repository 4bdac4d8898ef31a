/**
 * A plain node:http client for the process-level fault tests: one fresh connection per call,
 * and an answer that says how it ended (complete, cut short by the server, or dropped by us)
 * instead of throwing, so a test can assert on a truncated body as readily as on a whole one.
 * (hostile-http.ts writes raw bytes for malformed requests; this one sends well-formed ones.)
 */
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from 'node:http';

export interface RawAnswer {
  /** 0 when no response came (connection refused or closed before the status line). */
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** True when the body arrived whole (its length or final chunk seen). */
  complete: boolean;
  /** Why it ended early, when it did. */
  error?: string;
}

export interface RawRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Close the connection once this many body bytes have arrived (a client that goes away). */
  dropAfterBytes?: number;
  /** Close the connection when this resolves, whatever has arrived by then. */
  dropWhen?: Promise<unknown>;
  /** Gives up on the call (destroying the socket) after this long. Default 60 s. */
  timeoutMs?: number;
}

export function rawRequest(url: string, opts: RawRequestOptions = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let bytes = 0;
    const finish = (complete: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, headers, body: Buffer.concat(chunks), complete, ...(error !== undefined ? { error } : {}) });
    };
    const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
    const req: ClientRequest = httpRequest(url, {
      method: opts.method ?? (body ? 'POST' : 'GET'),
      headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...opts.headers },
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish(false, `no end within ${opts.timeoutMs ?? 60_000} ms`);
    }, opts.timeoutMs ?? 60_000);
    const drop = (why: string) => {
      req.destroy();
      finish(false, why);
    };
    void opts.dropWhen?.then(() => drop('dropped by the client'));
    req.on('error', (e) => finish(false, e.message));
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        bytes += c.length;
        if (opts.dropAfterBytes !== undefined && bytes >= opts.dropAfterBytes) drop('dropped by the client');
      });
      res.on('end', () => finish(res.complete, res.complete ? undefined : 'ended early'));
      res.on('aborted', () => finish(false, 'aborted by the server'));
      res.on('error', (e) => finish(false, e.message));
      res.on('close', () => finish(res.complete, res.complete ? undefined : 'closed early'));
    });
    req.end(body);
  });
}

export function jsonOf(a: RawAnswer): unknown {
  try {
    return JSON.parse(a.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A multipart/form-data body from fields and files, as an HTML form or the OpenAI SDK sends it. */
export function multipartBody(
  fields: Record<string, string>,
  files: Array<{ field: string; filename: string; contentType: string; data: Buffer }>,
): { body: Buffer; contentType: string } {
  const boundary = `----nanogate-test-${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${f.field}"; filename="${f.filename}"\r\nContent-Type: ${f.contentType}\r\n\r\n`));
    parts.push(f.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}
