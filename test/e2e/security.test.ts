/**
 * The holes of #10, kept closed: admin routes reached through other spellings of their path,
 * strangers' bodies read before their key was checked, uploads past the body limit, trickled
 * requests holding connections.
 */
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/tenants/keys.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { tinyPng } from '../mock-google/images.js';
import { ADMIN_TOKEN, GOOGLE_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

const KEY = 'security-tenant-key';

const config = (server = '') => `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 0 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
tenants:
  - id: t
    project: default
    keys: ["${hashKey(KEY)}"]
database: { path: $DB_PATH }
server: { bodyLimitBytes: 262144${server} }
`;

let mock: MockGoogle;
let gw: RunningGateway | undefined;
beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => mock.reset());
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/** Sends bytes as they are (no client normalises the request line) and reads the answer until the server closes or `ms`. */
function raw(url: string, bytes: string | Buffer, opts: { keepOpen?: boolean; ms?: number } = {}): Promise<RawAnswer> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(bytes);
      if (!opts.keepOpen) socket.end();
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const done = () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body });
    };
    socket.on('close', done);
    socket.on('error', (e) => (chunks.length ? done() : reject(e)));
    socket.setTimeout(opts.ms ?? 5_000, () => socket.destroy());
  });
}

const ADMIN_PATHS = ['/%61dmin/tenants', '/%61%64%6d%69%6e/tenants', '/admin/%74enants', 'http://x/admin/tenants', 'http://x/%61dmin/tenants', '/admin/tenants'];

describe('admin routes reached by any spelling of their path', () => {
  it('do not exist when ADMIN_TOKEN is unset: every spelling is 404 and nothing is created', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(), adminToken: null });
    for (const path of ADMIN_PATHS) {
      const list = await raw(gw.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(list.status, path).toBe(404);
      const body = JSON.stringify({ id: 'intruder', project: 'default' });
      const create = await raw(gw.url, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      expect(create.status, path).toBe(404);
    }
    expect(await gw.gateway.db.listTenants()).toEqual([]);
  });

  it('need the token under every spelling when ADMIN_TOKEN is set', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    for (const path of ADMIN_PATHS) {
      const denied = await raw(gw.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(denied.status, path).toBe(401);
      expect(JSON.parse(denied.body)).toMatchObject({ error: { code: 'unauthenticated' } });
      const wrong = await raw(gw.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-${ADMIN_TOKEN}\r\nConnection: close\r\n\r\n`);
      expect(wrong.status, path).toBe(401);
      const allowed = await raw(gw.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nConnection: close\r\n\r\n`);
      expect(allowed.status, path).toBe(200);
    }
  });
});

describe('strangers and their bodies', () => {
  it('refuses a request without a valid key before reading its body, and closes the connection', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    // Announces 60 MB but sends only the headers: the answer must come without the body.
    const answer = await raw(
      gw.url,
      'POST /v1beta/models/nano-banana-pro:generateContent HTTP/1.1\r\nHost: x\r\nx-goog-api-key: wrong\r\nContent-Type: application/json\r\nContent-Length: 60000000\r\n\r\n{"contents":',
      { keepOpen: true },
    );
    expect(answer.status).toBe(401);
    expect(answer.head.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(answer.body)).toMatchObject({ error: { status: 'UNAUTHENTICATED' } });
    const openai = await raw(
      gw.url,
      'POST /v1/images/edits HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 60000000\r\n\r\n--xyz\r\n',
      { keepOpen: true },
    );
    expect(openai.status).toBe(401);
    expect(JSON.parse(openai.body)).toMatchObject({ error: { code: 'invalid_api_key' } });
    expect(mock.received).toEqual([]);
  });

  it('cuts off a request whose body trickles in for longer than server.requestTimeoutMs, in the face shape', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config(', requestTimeoutMs: 300, headersTimeoutMs: 200') });
    const { port } = new URL(gw.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(`POST /v1beta/models/nano-banana-pro:generateContent HTTP/1.1\r\nHost: x\r\nx-goog-api-key: ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
    const trickle = setInterval(() => socket.write(' '), 50);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    await new Promise<void>((resolve) => {
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    clearInterval(trickle);
    const text = Buffer.concat(chunks).toString();
    expect(text).toMatch(/^HTTP\/1\.1 408/);
    expect(text).toContain('"status":"DEADLINE_EXCEEDED"');
    expect(mock.received).toEqual([]);
  });
});

describe('uploads and the body limit', () => {
  const png = Buffer.from(tinyPng().base64, 'base64');
  /** A multipart body with `files` images of `bytes` each (a PNG header, then padding). */
  function form(files: number, bytes: number, boundary = 'nanogate-test'): Buffer {
    const parts: Buffer[] = [Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nmake it blue\r\n`)];
    for (let i = 0; i < files; i++) {
      const data = Buffer.concat([png, Buffer.alloc(Math.max(0, bytes - png.length), 0)]);
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image[]"; filename="${i}.png"\r\nContent-Type: image/png\r\n\r\n`), data, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`));
    return Buffer.concat(parts);
  }
  const edits = (body: Buffer | Readable, headers: Record<string, string> = {}) =>
    request(`${gw!.url}/v1/images/edits`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'multipart/form-data; boundary=nanogate-test', ...headers },
      body,
    });

  it('refuses with 413, in OpenAI shape, a form whose files are each under the limit but add up past it', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const res = await edits(form(3, 100_000));
    expect(res.statusCode).toBe(413);
    expect(((await res.body.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    expect(mock.received).toEqual([]);
  });

  it('counts a chunked upload (no Content-Length) as it arrives and stops at the limit', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const body = form(6, 100_000);
    let sent = 0;
    async function* chunked() {
      for (let at = 0; at < body.length; at += 16_384) {
        sent += Math.min(16_384, body.length - at);
        yield body.subarray(at, at + 16_384);
      }
    }
    const res = await edits(Readable.from(chunked()));
    expect(res.statusCode).toBe(413);
    await res.body.dump();
    expect(mock.received).toEqual([]);
  });

  it('accepts a form within the limit, and a file part without its own Content-Type by its bytes', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const ok = await edits(form(2, 50_000));
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    const untyped = Buffer.from(
      `--nanogate-test\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nx\r\n--nanogate-test\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n`,
    );
    const res = await edits(Buffer.concat([untyped, png, Buffer.from('\r\n--nanogate-test--\r\n')]));
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });

  it.each([
    ['an unterminated body', Buffer.from('--nanogate-test\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nx')],
    ['a body without the boundary', Buffer.from('just some bytes')],
    ['a malformed part header', Buffer.from('--nanogate-test\r\nContent-Disposition\r\n\r\nx\r\n--nanogate-test--\r\n')],
  ])('answers 400 in OpenAI shape, never 500, to %s', async (_what, body) => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const res = await edits(body);
    expect(res.statusCode).toBe(400);
    expect(((await res.body.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    expect(gw.logs.join('')).not.toContain('unhandled error');
  });

  it('answers 400 to a multipart request whose Content-Type has no boundary', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    const res = await edits(form(1, 1_000), { 'content-type': 'multipart/form-data' });
    expect([400, 415]).toContain(res.statusCode);
    expect(((await res.body.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  it('refuses more images than the named model accepts', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: config() });
    // nano-banana (Nano Banana 2 Lite) takes at most 14 reference images (config/models.yaml).
    const head = Buffer.from(`--nanogate-test\r\nContent-Disposition: form-data; name="model"\r\n\r\nnano-banana\r\n`);
    const res = await edits(Buffer.concat([head, form(15, 1_000)]));
    expect(res.statusCode).toBe(400);
    expect(((await res.body.json()) as { error: { param: string } }).error.param).toBe('image');
    expect(mock.received).toEqual([]);
  });
});
