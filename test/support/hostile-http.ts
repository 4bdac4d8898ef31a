/**
 * A bare HTTP/1.1 client over node:net for the hostile-input suite. fetch and undici validate
 * and normalise what they send (dot segments, percent-encoding, header values, framing); this
 * writes the bytes it is given, exactly, and reads whatever comes back, including the answers
 * Node and Fastify write straight to the socket for requests they cannot parse.
 */
import { connect } from 'node:net';

export interface RawResponse {
  /** 0 when no status line came back before the connection ended or the wait ran out. */
  status: number;
  statusLine: string;
  /** Header lines in order, names lower-cased; repeated names stay repeated. */
  headers: Array<[name: string, value: string]>;
  /** The body with chunked framing removed. */
  body: Buffer;
  /** Every byte read from the socket (interim 1xx answers included). */
  raw: Buffer;
  /** True when the wait ran out before a complete answer. */
  timedOut: boolean;
  /** The socket error, if any (ECONNRESET, EPIPE ...): an answer may still have arrived. */
  socketError?: string;
  elapsedMs: number;
}

export interface RawSendOptions {
  port: number;
  host?: string;
  /**
   * The address the connection comes from. Any 127.x.y.z works on Linux loopback; the gateway
   * counts failed authentication per address, so suites that fail authentication on purpose
   * spread their requests over many addresses (see SourceAddresses).
   */
  localAddress?: string;
  /** Give up waiting for a complete answer after this long (default 5 s). */
  timeoutMs?: number;
  /** Pause this long between the chunks written (default 0: all at once). */
  pauseMs?: number;
  /** Half-close the socket once every chunk is written (default false: keep it open). */
  endAfterWrite?: boolean;
}

export function header(res: RawResponse, name: string): string | undefined {
  const lower = name.toLowerCase();
  return res.headers.find(([n]) => n === lower)?.[1];
}

export function bodyText(res: RawResponse): string {
  return res.body.toString('utf8');
}

interface Parsed {
  status: number;
  statusLine: string;
  headers: Array<[string, string]>;
  body: Buffer;
  complete: boolean;
}

/** Decodes chunked framing; `complete` once the last chunk and the trailer section are in. */
function dechunk(data: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) return { body: Buffer.concat(parts), complete: false };
    const size = Number.parseInt(data.toString('latin1', at, eol).split(';')[0] ?? '', 16);
    if (!Number.isFinite(size)) return { body: Buffer.concat(parts), complete: true };
    if (size === 0) {
      // Trailer section: header lines, then an empty line.
      const end = data.indexOf('\r\n\r\n', eol);
      const emptyTrailers = data.subarray(eol, eol + 4).equals(Buffer.from('\r\n\r\n'));
      return { body: Buffer.concat(parts), complete: emptyTrailers || end >= 0 };
    }
    const start = eol + 2;
    if (data.length < start + size + 2) {
      parts.push(data.subarray(start, Math.min(data.length, start + size)));
      return { body: Buffer.concat(parts), complete: false };
    }
    parts.push(data.subarray(start, start + size));
    at = start + size + 2;
  }
}

/** Parses the final (non-1xx) answer in `raw`; `ended` says the server closed its side. */
function parseResponse(raw: Buffer, ended: boolean, method: string): Parsed | undefined {
  let at = 0;
  for (;;) {
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return undefined;
    const lines = raw.toString('latin1', at, headEnd).split('\r\n');
    const statusLine = lines[0] ?? '';
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1] ?? 0);
    const headers: Array<[string, string]> = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      at = bodyStart;
      continue;
    }
    const rest = raw.subarray(bodyStart);
    const te = headers.find(([n]) => n === 'transfer-encoding')?.[1];
    const cl = headers.find(([n]) => n === 'content-length')?.[1];
    if (method === 'HEAD' || status === 204 || status === 304) return { status, statusLine, headers, body: Buffer.alloc(0), complete: true };
    if (te !== undefined && /chunked/i.test(te)) {
      const { body, complete } = dechunk(rest);
      return { status, statusLine, headers, body, complete: complete || ended };
    }
    if (cl !== undefined && /^\d+$/.test(cl)) {
      const length = Number(cl);
      return { status, statusLine, headers, body: rest.subarray(0, length), complete: rest.length >= length || ended };
    }
    return { status, statusLine, headers, body: rest, complete: ended };
  }
}

/**
 * Writes `chunks` to a fresh connection and reads the answer. Resolves (never rejects) once a
 * complete answer is in, the server has closed the connection, or `timeoutMs` has passed.
 */
export function sendRaw(chunks: Buffer | string | ReadonlyArray<Buffer | string>, opts: RawSendOptions): Promise<RawResponse> {
  const list = (Array.isArray(chunks) ? chunks : [chunks]).map((c: Buffer | string) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
  const method = /^([A-Z]+) /.exec(list[0]?.toString('latin1', 0, 16) ?? '')?.[1] ?? 'GET';
  const started = performance.now();
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let socketError: string | undefined;
    let settled = false;
    const socket = connect({ port: opts.port, host: opts.host ?? '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const finish = (timedOut: boolean, ended: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const raw = Buffer.concat(received);
      const parsed = parseResponse(raw, ended, method);
      socket.destroy();
      resolve({
        status: parsed?.status ?? 0,
        statusLine: parsed?.statusLine ?? '',
        headers: parsed?.headers ?? [],
        body: parsed?.body ?? Buffer.alloc(0),
        raw,
        timedOut: timedOut && !(parsed?.complete ?? false),
        ...(socketError ? { socketError } : {}),
        elapsedMs: performance.now() - started,
      });
    };
    const timer = setTimeout(() => finish(true, false), opts.timeoutMs ?? 5_000);
    socket.on('data', (d: Buffer) => {
      received.push(d);
      if (parseResponse(Buffer.concat(received), false, method)?.complete) finish(false, false);
    });
    socket.on('end', () => finish(false, true));
    socket.on('close', () => finish(false, true));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      socketError = e.code ?? e.message;
    });
    socket.once('connect', async () => {
      for (const [i, chunk] of list.entries()) {
        if (settled || socket.destroyed) return;
        if (i > 0 && opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
        if (settled || socket.destroyed) return;
        if (!socket.write(chunk)) {
          await new Promise<void>((r) => {
            const done = () => {
              socket.off('drain', done);
              socket.off('close', done);
              r();
            };
            socket.on('drain', done);
            socket.on('close', done);
          });
        }
      }
      if (opts.endAfterWrite && !socket.destroyed) socket.end();
    });
  });
}

export interface RequestSpec {
  method: string;
  /** The request target exactly as it goes on the request line (origin-form, absolute-form ...). */
  target: string | Buffer;
  /** Header lines in order; a value is written as given (latin1 for strings). */
  headers?: ReadonlyArray<readonly [string, string | Buffer]>;
  body?: Buffer | string;
  /** Adds Content-Length for the body unless the headers already frame it (default true). */
  contentLength?: boolean;
  /** Adds Host: unless given (default true). */
  host?: boolean;
  /** Adds Connection: close (default true): one request per connection keeps answers apart. */
  close?: boolean;
}

/** The bytes of one request, framed as told. */
export function requestBytes(spec: RequestSpec): Buffer {
  const headers = [...(spec.headers ?? [])];
  const names = new Set(headers.map(([n]) => n.toLowerCase()));
  const body = spec.body === undefined ? Buffer.alloc(0) : typeof spec.body === 'string' ? Buffer.from(spec.body, 'utf8') : spec.body;
  if ((spec.host ?? true) && !names.has('host')) headers.unshift(['Host', '127.0.0.1']);
  if ((spec.contentLength ?? true) && !names.has('content-length') && !names.has('transfer-encoding') && (body.length > 0 || spec.method === 'POST' || spec.method === 'PATCH' || spec.method === 'PUT')) {
    headers.push(['Content-Length', String(body.length)]);
  }
  if ((spec.close ?? true) && !names.has('connection')) headers.push(['Connection', 'close']);
  const head: Buffer[] = [Buffer.from(`${spec.method} `, 'latin1'), typeof spec.target === 'string' ? Buffer.from(spec.target, 'latin1') : spec.target, Buffer.from(' HTTP/1.1\r\n', 'latin1')];
  for (const [name, value] of headers) {
    head.push(Buffer.from(`${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'latin1') : value, Buffer.from('\r\n', 'latin1'));
  }
  head.push(Buffer.from('\r\n', 'latin1'));
  return Buffer.concat([...head, body]);
}

/**
 * Hands out loopback source addresses, `perAddress` requests each, so failed-authentication
 * throttling (20 a minute per address, contract §3) never turns an expected 401 into a 429.
 * `block` keeps suites in different files (run in parallel, each against its own gateway) apart
 * anyway; each suite takes its own.
 */
export class SourceAddresses {
  #n = 0;
  #used = 0;
  constructor(
    private readonly block: number,
    private readonly perAddress = 10,
  ) {}

  next(): string {
    if (this.#used >= this.perAddress) {
      this.#used = 0;
      this.#n++;
    }
    this.#used++;
    // 127.<block>.<hi>.<lo>, lo in 1..254
    const hi = Math.floor(this.#n / 254) % 256;
    const lo = (this.#n % 254) + 1;
    return `127.${this.block}.${hi}.${lo}`;
  }

  /** A never-used address, for a sequence that must start from a clean failure count. */
  fresh(): string {
    this.#n++;
    this.#used = 0;
    return this.next();
  }
}

/** Printable form of request bytes for failure messages: escapes, and long runs cut down. */
export function showBytes(bytes: Buffer, max = 600): string {
  const text = bytes.toString('latin1').replace(/[^\x20-\x7e]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\r') return '\\r';
    if (c === '\n') return '\\n\n';
    return `\\x${code.toString(16).padStart(2, '0')}`;
  });
  // Collapse long repeats (10k-deep arrays, padding) so a message stays readable.
  const collapsed = text.replace(/(.{1,8}?)\1{15,}/gs, (m, unit: string) => `${unit}…(×${Math.round(m.length / unit.length)})`);
  return collapsed.length > max ? `${collapsed.slice(0, max / 2)} …[${bytes.length} bytes]… ${collapsed.slice(-max / 2)}` : collapsed;
}

/** `body` in chunked transfer coding, `chunkBytes` a chunk, with the last chunk and no trailers. */
export function chunked(body: Buffer, chunkBytes: number): Buffer {
  const out: Buffer[] = [];
  const step = Math.max(1, chunkBytes);
  for (let at = 0; at < body.length; at += step) {
    const piece = body.subarray(at, at + step);
    out.push(Buffer.from(`${piece.length.toString(16)}\r\n`, 'latin1'), piece, Buffer.from('\r\n', 'latin1'));
  }
  out.push(Buffer.from('0\r\n\r\n', 'latin1'));
  return Buffer.concat(out);
}
