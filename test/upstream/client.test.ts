/**
 * UpstreamClient against the mock Google over real HTTP (faults come from the mock), with the
 * backoff's sleep and jitter injected so no test waits for time. Failures that need no server
 * (a timeout, a reset) come from an injected dispatcher instead.
 */
import { Dispatcher, errors as undiciErrors } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { UpstreamClient, type UpstreamOptions, type UpstreamResponse } from '../../src/upstream/client.js';
import { startMockGoogle, type Fault, type MockGoogle } from '../mock-google/server.js';
import { freePort } from '../support/free-port.js';
import { readAll } from '../support/relay-calls.js';

const GOOGLE_KEY = 'upstream-client-test-key';
const GENERATE = '/v1beta/models/gemini-3-pro-image:generateContent';
const BODY = Buffer.from('{"contents":[{"parts":[{"text":"a banana"}]}]}');

let mock: MockGoogle;
const clients: UpstreamClient[] = [];

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => mock.reset());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** A client whose backoff waits are recorded, not slept; jitter fixed at one half. */
function client(opts: Partial<UpstreamOptions> = {}) {
  const sleeps: number[] = [];
  const c = new UpstreamClient({
    baseUrl: mock.url,
    timeoutMs: 5_000,
    retries: 2,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...opts,
  });
  clients.push(c);
  return { client: c, sleeps };
}

const generate = (c: UpstreamClient, signal?: AbortSignal) =>
  c.send({ method: 'POST', path: GENERATE, apiKey: GOOGLE_KEY, body: BODY, ...(signal ? { signal } : {}) });


function errorBody(res: UpstreamResponse): { error: { code: number; status: string } } {
  if (res.ok) throw new Error(`expected an error answer, got ${res.status}`);
  return JSON.parse(res.body.toString('utf8')) as { error: { code: number; status: string } };
}

const generations = () => mock.received.filter((r) => r.path === GENERATE);

describe('UpstreamClient: the request Google receives', () => {
  it('sends the key in x-goog-api-key and never in the URL, and the body byte for byte', async () => {
    const { client: c } = client();
    const res = await generate(c);
    expect(res.ok).toBe(true);
    if (res.ok) await readAll(res.body);
    const [seen] = mock.received;
    expect(seen?.method).toBe('POST');
    expect(seen?.path).toBe(GENERATE);
    expect(seen?.headers['x-goog-api-key']).toBe(GOOGLE_KEY);
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(seen?.body.equals(BODY)).toBe(true);
    expect(seen?.query).toEqual({});
    expect(seen?.path).not.toContain(GOOGLE_KEY);
  });

  it("appends the path to the base URL's own path", async () => {
    const { client: c } = client({ baseUrl: `${mock.url}/proxy/` });
    const res = await c.send({ method: 'GET', path: '/v1beta/models?pageSize=2', apiKey: GOOGLE_KEY });
    // The mock serves no /proxy prefix: it answers 404, but it saw where the request went.
    expect(res.status).toBe(404);
    expect(mock.received[0]?.path).toBe('/proxy/v1beta/models');
    expect(mock.received[0]?.query).toEqual({ pageSize: '2' });
  });

  it("hands back a successful answer's body as it streams, and Google's error answers read whole", async () => {
    const { client: c } = client();
    const list = await c.send({ method: 'GET', path: '/v1beta/models?pageSize=1', apiKey: GOOGLE_KEY });
    expect(list.ok && list.status === 200).toBe(true);
    if (list.ok) expect((JSON.parse((await readAll(list.body)).toString()) as { models: unknown[] }).models).toHaveLength(1);
    const refused = await c.send({ method: 'GET', path: '/v1beta/models', apiKey: 'not-the-key' });
    expect(refused.ok).toBe(false);
    expect(errorBody(refused).error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
  });

  it('reads at most maxErrorBodyBytes of an error answer', async () => {
    const { client: c } = client({ maxErrorBodyBytes: 16 });
    mock.enqueue({ kind: 'status', status: 400 });
    const res = await generate(c);
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.body.length).toBe(16);
  });
});

describe('UpstreamClient: retries (contract §11)', () => {
  const retried: Array<[string, Fault, number]> = [
    ['500 INTERNAL', { kind: 'internal' }, 500],
    ['503 UNAVAILABLE', { kind: 'unavailable' }, 503],
    ['504 DEADLINE_EXCEEDED', { kind: 'deadline' }, 504],
    ['a dropped connection', { kind: 'drop' }, 0],
  ];
  for (const [name, fault] of retried) {
    it(`retries ${name} after a jittered backoff and answers with the retry`, async () => {
      const { client: c, sleeps } = client();
      mock.enqueue(fault);
      const res = await generate(c);
      expect(res.ok).toBe(true);
      expect(res.attempts).toBe(2);
      if (res.ok) await readAll(res.body);
      // Full jitter at 0.5 of the 250 ms base.
      expect(sleeps).toEqual([125]);
      expect(generations()).toHaveLength(2);
    });
  }

  it('backs off exponentially and gives Google\'s last answer back once the retries are spent', async () => {
    const { client: c, sleeps } = client({ retries: 2 });
    mock.enqueue({ kind: 'unavailable' }, { kind: 'unavailable' }, { kind: 'unavailable' });
    const res = await generate(c);
    expect(res.status).toBe(503);
    expect(res.attempts).toBe(3);
    expect(errorBody(res).error.status).toBe('UNAVAILABLE');
    expect(sleeps).toEqual([125, 250]);
    expect(generations()).toHaveLength(3);
  });

  it('makes one attempt only when retries is 0', async () => {
    const { client: c, sleeps } = client({ retries: 0 });
    mock.enqueue({ kind: 'unavailable' });
    const res = await generate(c);
    expect([res.status, res.attempts, sleeps.length, generations().length]).toEqual([503, 1, 0, 1]);
  });

  const honoured: Array<[string, Fault, number]> = [
    ['Retry-After', { kind: 'status', status: 503, headers: { 'retry-after': '3' } }, 3_000],
    [
      'RetryInfo',
      {
        kind: 'status',
        status: 503,
        body: { error: { code: 503, message: 'overloaded', status: 'UNAVAILABLE', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '2s' }] } },
      },
      2_000,
    ],
  ];
  for (const [name, fault, waitMs] of honoured) {
    it(`waits as long as Google's ${name} asks before retrying`, async () => {
      const { client: c, sleeps } = client();
      mock.enqueue(fault);
      const res = await generate(c);
      expect(res.ok).toBe(true);
      if (res.ok) await readAll(res.body);
      expect(sleeps).toEqual([waitMs]);
    });
  }

  it('gives the answer back instead of waiting when Google asks for longer than it will wait', async () => {
    const { client: c, sleeps } = client();
    mock.enqueue({ kind: 'status', status: 503, headers: { 'retry-after': '60' } });
    const res = await generate(c);
    expect(res.ok).toBe(false);
    if (!res.ok) expect([res.status, res.attempts, res.retryAfterMs]).toEqual([503, 1, 60_000]);
    expect(sleeps).toEqual([]);
  });

  it('never retries a 429, even one that asks for a short wait, and reports the wait', async () => {
    const { client: c, sleeps } = client();
    mock.enqueue({ kind: 'rateLimit', retryDelay: '1s' });
    const res = await generate(c);
    expect(res.ok).toBe(false);
    if (!res.ok) expect([res.status, res.attempts, res.retryAfterMs]).toEqual([429, 1, 1_000]);
    expect(errorBody(res).error.status).toBe('RESOURCE_EXHAUSTED');
    expect(sleeps).toEqual([]);
    expect(generations()).toHaveLength(1);
  });

  it.each([400, 403, 404])('never retries a %i', async (status) => {
    const { client: c, sleeps } = client();
    mock.enqueue({ kind: 'status', status });
    const res = await generate(c);
    expect([res.status, res.attempts, sleeps.length, generations().length]).toEqual([status, 1, 0, 1]);
  });

  it('answers UPSTREAM_UNAVAILABLE, naming the error, when Google cannot be reached after every retry', async () => {
    const port = await freePort();
    const { client: c, sleeps } = client({ baseUrl: `http://127.0.0.1:${port}` });
    const err = await generate(c).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('UPSTREAM_UNAVAILABLE');
    expect((err as GatewayError).message).toContain('ECONNREFUSED');
    expect(sleeps).toEqual([125, 250]);
  });
});

/** undici's controller, as far as the client's handler uses it. */
function fakeController(onAbort: (reason: Error) => void = () => {}): Dispatcher.DispatchController {
  let aborted = false;
  let reason: Error | null = null;
  return {
    get aborted() {
      return aborted;
    },
    get paused() {
      return false;
    },
    get reason() {
      return reason;
    },
    abort(r: Error) {
      aborted = true;
      reason = r;
      onAbort(r);
    },
    pause() {},
    resume() {},
  };
}

/** A dispatcher that answers each attempt with the next scripted failure, as undici reports it. */
class ScriptedDispatcher extends Dispatcher {
  readonly dispatched: Dispatcher.DispatchOptions[] = [];
  readonly #failures: Error[];

  constructor(failures: Error[]) {
    super();
    this.#failures = failures;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.dispatched.push(options);
    const failure = this.#failures.shift() ?? new Error('script ran out');
    const controller = fakeController();
    handler.onRequestStart?.(controller, {});
    queueMicrotask(() => handler.onResponseError?.(controller, failure));
    return true;
  }

  override close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('UpstreamClient: timeouts', () => {
  it.each([
    ['response headers', () => new undiciErrors.HeadersTimeoutError()],
    ['a connection', () => new undiciErrors.ConnectTimeoutError()],
  ])('answers UPSTREAM_TIMEOUT when %s time out, and does not retry a hung model', async (_name, timeout) => {
    const dispatcher = new ScriptedDispatcher([timeout(), timeout()]);
    const { client: c, sleeps } = client({ dispatcher, timeoutMs: 180_000 });
    const err = await generate(c).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('UPSTREAM_TIMEOUT');
    expect((err as GatewayError).message).toContain('180000 ms');
    expect(dispatcher.dispatched).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('gives undici the timeout for every attempt, the key only in its header', async () => {
    const dispatcher = new ScriptedDispatcher([Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), new undiciErrors.HeadersTimeoutError()]);
    const { client: c } = client({ dispatcher, timeoutMs: 1_234, baseUrl: 'https://generativelanguage.googleapis.com' });
    const err = await generate(c).catch((e: unknown) => e);
    expect((err as GatewayError).code).toBe('UPSTREAM_TIMEOUT');
    expect(dispatcher.dispatched).toHaveLength(2);
    for (const d of dispatcher.dispatched) {
      expect(d).toMatchObject({ origin: 'https://generativelanguage.googleapis.com', method: 'POST', path: GENERATE, headersTimeout: 1_234, bodyTimeout: 1_234 });
      expect((d.headers as Record<string, string>)['x-goog-api-key']).toBe(GOOGLE_KEY);
      expect(d.path).not.toContain(GOOGLE_KEY);
    }
  });
});

describe('UpstreamClient: the caller\'s abort signal', () => {
  const closedByClient = (err: unknown) => err instanceof GatewayError && err.code === 'UPSTREAM_UNAVAILABLE' && /client closed/.test(err.message);

  it('sends nothing when the signal has already aborted', async () => {
    const dispatcher = new ScriptedDispatcher([]);
    const { client: c } = client({ dispatcher });
    const err = await generate(c, AbortSignal.abort()).catch((e: unknown) => e);
    expect(closedByClient(err)).toBe(true);
    expect(dispatcher.dispatched).toHaveLength(0);
  });

  it('aborts a call Google has not answered, without retrying it', async () => {
    const { client: c, sleeps } = client();
    mock.setModelFault('gemini-3-pro-image', { kind: 'hang' });
    const controller = new AbortController();
    const pending = generate(c, controller.signal).catch((e: unknown) => e);
    setImmediate(() => controller.abort());
    expect(closedByClient(await pending)).toBe(true);
    expect(sleeps).toEqual([]);
  });

  it('stops the backoff wait when the signal aborts during it', async () => {
    const controller = new AbortController();
    const waits: number[] = [];
    const { client: c } = client({
      // As the real sleep does: the wait ends with an AbortError when the signal fires.
      sleep: (ms, signal) => {
        waits.push(ms);
        controller.abort();
        return signal?.aborted ? Promise.reject(Object.assign(new Error('aborted'), { name: 'AbortError' })) : Promise.resolve();
      },
    });
    mock.enqueue({ kind: 'unavailable' });
    const err = await generate(c, controller.signal).catch((e: unknown) => e);
    expect(closedByClient(err)).toBe(true);
    expect(waits).toEqual([125]);
    expect(generations()).toHaveLength(1);
  });

  it('breaks off a streaming answer when the signal aborts mid-body', async () => {
    const { client: c } = client();
    // The body arrives 64 bytes at a time, far apart: the abort lands while it flows.
    mock.enqueue({ kind: 'slowBody', chunkBytes: 64, intervalMs: 60_000 });
    const controller = new AbortController();
    const res = await generate(c, controller.signal);
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    const read = readAll(res.body).then(
      () => 'ended',
      () => 'broke off',
    );
    controller.abort();
    expect(await read).toBe('broke off');
  });
});

describe('UpstreamClient: close', () => {
  it('leaves an injected dispatcher to its owner', async () => {
    let closed = false;
    const dispatcher = new ScriptedDispatcher([]);
    dispatcher.close = () => {
      closed = true;
      return Promise.resolve();
    };
    const c = new UpstreamClient({ baseUrl: mock.url, timeoutMs: 1_000, retries: 0, dispatcher });
    await c.close();
    expect(closed).toBe(false);
  });
});

describe('UpstreamClient: asking before each retry', () => {
  it('asks once before each retry, never before the first attempt', async () => {
    let asked = 0;
    const { client: c } = client();
    mock.enqueue({ kind: 'unavailable' }, { kind: 'internal' });
    const res = await c.send({
      method: 'POST',
      path: GENERATE,
      apiKey: GOOGLE_KEY,
      body: BODY,
      beforeRetry: async () => {
        asked++;
        return true;
      },
    });
    expect([res.status, res.attempts, asked]).toEqual([200, 3, 2]);
    if (res.ok) await readAll(res.body);
  });

  it("makes no retry it is refused, and gives Google's last answer back", async () => {
    const { client: c } = client();
    mock.enqueue({ kind: 'unavailable' });
    const res = await c.send({ method: 'POST', path: GENERATE, apiKey: GOOGLE_KEY, body: BODY, beforeRetry: async () => false });
    expect([res.status, res.attempts]).toEqual([503, 1]);
    expect(generations()).toHaveLength(1);
  });

  it('throws the last failure when a retry after a connection error is refused', async () => {
    const port = await freePort();
    const { client: c } = client({ baseUrl: `http://127.0.0.1:${port}` });
    const err = await c.send({ method: 'POST', path: GENERATE, apiKey: GOOGLE_KEY, body: BODY, beforeRetry: async () => false }).catch((e: unknown) => e);
    expect((err as GatewayError).code).toBe('UPSTREAM_UNAVAILABLE');
    expect((err as GatewayError).message).toContain('ECONNREFUSED');
  });
});
