/**
 * UpstreamClient calls made with an OAuth access token (a Vertex AI project, #17.3): the token
 * in Authorization, asked for before every attempt, and never echoed back to the caller.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { UpstreamClient, type AttemptLabel } from '../../src/upstream/client.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { readAll } from '../support/relay-calls.js';

const GENERATE = '/v1/projects/my-gcp-project/locations/us-central1/publishers/google/models/gemini-3-pro-image:generateContent';
const BODY = Buffer.from('{"contents":[{"parts":[{"text":"a banana"}]}]}');

let mock: MockGoogle;
const clients: UpstreamClient[] = [];

beforeAll(async () => {
  mock = await startMockGoogle();
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => mock.reset());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function client(baseUrl = mock.url) {
  const sleeps: number[] = [];
  const c = new UpstreamClient({ baseUrl, timeoutMs: 5_000, retries: 2, sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 });
  clients.push(c);
  return { client: c, sleeps };
}

/** Hands out the tokens given, one per call, counting the calls. */
function tokenSource(...tokens: string[]) {
  const s = { asked: 0, next: async () => tokens[s.asked++] ?? tokens.at(-1)! };
  return s;
}

describe('UpstreamClient with an access token', () => {
  it('sends it as Authorization: Bearer, with no Google key, and the body byte for byte', async () => {
    const token = mock.vertex.issueToken();
    const { client: c } = client();
    const res = await c.send({ method: 'POST', path: GENERATE, accessToken: async () => token, body: BODY });
    expect(res.status).toBe(200);
    if (res.ok) await readAll(res.body);
    const [seen] = mock.received;
    expect(seen?.path).toBe(GENERATE);
    expect(seen?.headers['authorization']).toBe(`Bearer ${token}`);
    expect(seen?.headers['x-goog-api-key']).toBeUndefined();
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(seen?.body.equals(BODY)).toBe(true);
  });

  it('asks for the token again before a retry, so a retry minutes later carries a valid one', async () => {
    const first = mock.vertex.issueToken();
    const second = mock.vertex.issueToken();
    const tokens = tokenSource(first, second);
    mock.enqueue({ kind: 'unavailable' });
    const { client: c, sleeps } = client();
    const res = await c.send({ method: 'POST', path: GENERATE, accessToken: tokens.next, body: BODY });
    expect(res.status).toBe(200);
    if (res.ok) await readAll(res.body);
    expect(tokens.asked).toBe(2);
    expect(sleeps).toHaveLength(1);
    expect(mock.received.map((r) => r.headers['authorization'])).toEqual([`Bearer ${first}`, `Bearer ${second}`]);
  });

  it('fails the call with the token error itself, before any attempt reaches Google', async () => {
    const attempts: AttemptLabel[] = [];
    const { client: c, sleeps } = client();
    const refused = new GatewayError('UPSTREAM_PROJECT_REFUSED', 'no token');
    const e = await c
      .send({ method: 'POST', path: GENERATE, accessToken: async () => Promise.reject(refused), body: BODY, onAttempt: (a) => attempts.push(a) })
      .catch((err: unknown) => err);
    expect(e).toBe(refused);
    expect(mock.received).toHaveLength(0);
    expect(attempts).toEqual([]);
    expect(sleeps).toEqual([]);
  });

  it('drops a header of the answer that echoes the token', async () => {
    const token = mock.vertex.issueToken();
    mock.enqueue({ kind: 'status', status: 400, headers: { 'x-debug-authorization': `Bearer ${token}`, 'x-other': 'kept' } });
    const { client: c } = client();
    const res = await c.send({ method: 'POST', path: GENERATE, accessToken: async () => token, body: BODY });
    expect(res.status).toBe(400);
    expect(res.headers['x-debug-authorization']).toBeUndefined();
    expect(res.headers['x-other']).toBe('kept');
  });

  it("makes a client for another origin with this one's retries and waits", async () => {
    const { client: unreachable, sleeps } = client('http://127.0.0.1:9/never');
    const sibling = unreachable.forBaseUrl(mock.url);
    clients.push(sibling);
    mock.enqueue({ kind: 'unavailable' });
    const token = mock.vertex.issueToken();
    const res = await sibling.send({ method: 'POST', path: GENERATE, accessToken: async () => token, body: BODY });
    expect(res.status).toBe(200);
    if (res.ok) await readAll(res.body);
    expect(sleeps).toHaveLength(1);
    expect(mock.received).toHaveLength(2);
  });
});
