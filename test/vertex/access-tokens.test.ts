/**
 * A Vertex AI project's access tokens: kept on the gateway's clock, refreshed before they
 * expire, one fetch for any number of concurrent calls; failures as the faces' errors. First
 * with a scripted fetch, then through google-auth-library against the mock's token endpoint.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { ProjectRefusal } from '../../src/gemini/errors.js';
import { ManualClock } from '../../src/time/clock.js';
import { AccessTokenError, AccessTokens, type FetchedToken } from '../../src/vertex/access-tokens.js';
import { googleTokenSource, serviceAccountProblem } from '../../src/vertex/google-token-source.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { makeServiceAccount, type ServiceAccount } from '../mock-google/vertex.js';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

/** A fetch that hands out tok-1, tok-2, … living `lifetimeMs`, or fails as told; each call is counted. */
function scriptedFetch(lifetimeMs = HOUR_MS) {
  const s = {
    calls: 0,
    fail: undefined as AccessTokenError | undefined,
    /** Held until released: concurrent callers meet one fetch in flight. */
    gate: undefined as Promise<void> | undefined,
    fetch: async (): Promise<FetchedToken> => {
      s.calls++;
      const n = s.calls;
      if (s.gate) await s.gate;
      if (s.fail) throw s.fail;
      return { accessToken: `tok-${n}`, expiresInMs: lifetimeMs };
    },
  };
  return s;
}

function tokens(fetch: () => Promise<FetchedToken>, clock: ManualClock, refusals: ProjectRefusal[] = []) {
  return new AccessTokens({ projectId: 'vx', fetch, clock, logger: pino({ level: 'silent' }), onRefused: (r) => refusals.push(r) });
}

async function failureOf(p: Promise<unknown>): Promise<GatewayError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(e)}`);
  return e;
}

describe('AccessTokens on the gateway clock', () => {
  it('keeps one token for every call until five minutes before it expires, then fetches the next', async () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    const s = scriptedFetch();
    const t = tokens(s.fetch, clock);
    expect(await t.get()).toBe('tok-1');
    clock.advance(30 * MINUTE_MS);
    expect(await t.get()).toBe('tok-1');
    clock.advance(24 * MINUTE_MS + 59_999);
    expect(await t.get()).toBe('tok-1');
    expect(s.calls).toBe(1);
    clock.advance(1);
    expect(await t.get()).toBe('tok-2');
    expect(await t.get()).toBe('tok-2');
    expect(s.calls).toBe(2);
  });

  it('makes one fetch for many calls that arrive together, and hands all of them its token', async () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    const s = scriptedFetch();
    let release!: () => void;
    s.gate = new Promise((resolve) => (release = resolve));
    const t = tokens(s.fetch, clock);
    const all = Promise.all(Array.from({ length: 25 }, () => t.get()));
    release();
    expect(new Set(await all)).toEqual(new Set(['tok-1']));
    expect(s.calls).toBe(1);
  });

  it('counts the lifetime from before the request, so a slow fetch is not held past its expiry', async () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    const s = scriptedFetch(10 * MINUTE_MS);
    let release!: () => void;
    s.gate = new Promise((resolve) => (release = resolve));
    const t = tokens(s.fetch, clock);
    const first = t.get();
    clock.advance(2 * MINUTE_MS);
    release();
    expect(await first).toBe('tok-1');
    s.gate = undefined;
    // Fetched at 0, lives 10 min: due at 5 min (not 7).
    clock.advance(3 * MINUTE_MS);
    expect(await t.get()).toBe('tok-2');
  });

  it('keeps using a token that is still valid when its refresh fails, and fails once it has expired', async () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    const s = scriptedFetch();
    const t = tokens(s.fetch, clock);
    await t.get();
    clock.advance(56 * MINUTE_MS);
    s.fail = new AccessTokenError('the token endpoint could not be reached (ECONNREFUSED)', { refused: false });
    expect(await t.get()).toBe('tok-1');
    clock.advance(4 * MINUTE_MS);
    const e = await failureOf(t.get());
    expect(e.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(e.message).toMatch(/Could not get an access token from Google for the gateway's Vertex AI project/);
  });

  it('answers calls at once with the same error for a few seconds after a failed fetch, then asks again', async () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    const s = scriptedFetch();
    s.fail = new AccessTokenError('the token endpoint answered HTTP 503', { refused: false, httpStatus: 503 });
    const t = tokens(s.fetch, clock);
    expect((await failureOf(t.get())).message).toContain('(HTTP 503)');
    await failureOf(t.get());
    clock.advance(4_999);
    await failureOf(t.get());
    expect(s.calls).toBe(1);
    clock.advance(1);
    s.fail = undefined;
    expect(await t.get()).toBe('tok-2');
  });

  it("turns refused credentials into the project's refusal (503) and tells the operator", async () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    const s = scriptedFetch();
    s.fail = new AccessTokenError('the token endpoint answered invalid_grant: Invalid JWT Signature.', { refused: true, httpStatus: 400 });
    const refusals: ProjectRefusal[] = [];
    const t = tokens(s.fetch, clock, refusals);
    const e = await failureOf(t.get());
    expect(e.code).toBe('UPSTREAM_PROJECT_REFUSED');
    expect(e.message).toContain('Vertex AI credentials were not accepted');
    // The tenant never sees Google's words; the operator does.
    expect(e.message).not.toContain('invalid_grant');
    expect(refusals).toEqual([{ reason: 'UNAUTHENTICATED', httpStatus: 400, googleStatus: 'UNAUTHENTICATED', message: 'no access token: the token endpoint answered invalid_grant: Invalid JWT Signature.' }]);
  });

  it('takes any other failure of the fetch as the token endpoint being unavailable', async () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    const t = tokens(async () => {
      throw new TypeError('fetch failed');
    }, clock);
    expect((await failureOf(t.get())).code).toBe('UPSTREAM_UNAVAILABLE');
  });
});

describe('service-account key files', () => {
  it.each([
    ['not json', 'is not JSON'],
    ['[]', 'is not a JSON object'],
    ['{"type":"authorized_user"}', 'is not a service-account key (type is "authorized_user", not "service_account")'],
    ['{"type":"service_account","private_key":"k"}', 'has no client_email'],
    ['{"type":"service_account","client_email":"a@b"}', 'has no private_key'],
    ['{"type":"service_account","client_email":"a@b","private_key":"k","token_uri":"ftp://x"}', 'has a token_uri that is not an http(s) URL'],
  ])('finds what is wrong with %s', (text, problem) => {
    expect(serviceAccountProblem(text)).toBe(problem);
  });

  it('accepts a key file as Google writes it', () => {
    expect(serviceAccountProblem(JSON.stringify(makeServiceAccount('https://oauth2.googleapis.com/token').keyFile))).toBeUndefined();
  });
});

describe("google-auth-library against the mock's token endpoint", () => {
  let mock: MockGoogle;
  let dir: string;
  let account: ServiceAccount;
  let keyFile: string;

  beforeAll(async () => {
    mock = await startMockGoogle();
    dir = mkdtempSync(join(tmpdir(), 'nanogate-vertex-'));
    account = makeServiceAccount(`${mock.url}/token`);
    mock.vertex.addServiceAccount(account.email, account.publicKeyPem);
    keyFile = join(dir, 'sa.json');
    writeFileSync(keyFile, JSON.stringify(account.keyFile));
  });
  afterAll(async () => {
    await mock?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => mock.reset());

  it("signs the service account's assertion, posts it to the key file's token_uri and returns the token with its lifetime", async () => {
    const fetched = await googleTokenSource({ keyFile })();
    expect(mock.vertex.issuedTokens()).toEqual([fetched.accessToken]);
    expect(fetched.expiresInMs).toBeGreaterThan(3_590_000);
    expect(fetched.expiresInMs).toBeLessThanOrEqual(3_599_000);
    const [seen] = mock.received;
    expect(seen?.path).toBe('/token');
    expect(seen?.body.toString()).toMatch(/^grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=/);
  });

  it('asks the token endpoint once per token lifetime on the injected clock, however many calls come', async () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    const t = tokens(googleTokenSource({ keyFile }), clock);
    const first = await Promise.all(Array.from({ length: 10 }, () => t.get()));
    expect(new Set(first).size).toBe(1);
    expect(mock.vertex.tokenRequests()).toBe(1);
    clock.advance(54 * MINUTE_MS);
    expect(await t.get()).toBe(first[0]);
    expect(mock.vertex.tokenRequests()).toBe(1);
    // 3599 s tokens: due five minutes before, at 54 min 59 s.
    clock.advance(MINUTE_MS);
    const second = await Promise.all(Array.from({ length: 10 }, () => t.get()));
    expect(new Set(second).size).toBe(1);
    expect(second[0]).not.toBe(first[0]);
    expect(mock.vertex.tokenRequests()).toBe(2);
  });

  it('says the credentials were refused when the token endpoint does not know the account', async () => {
    const stranger = makeServiceAccount(`${mock.url}/token`, 'stranger@mock-project.iam.gserviceaccount.com');
    const file = join(dir, 'stranger.json');
    writeFileSync(file, JSON.stringify(stranger.keyFile));
    const e = await googleTokenSource({ keyFile: file })().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(AccessTokenError);
    expect(e).toMatchObject({ refused: true, httpStatus: 400, message: 'the token endpoint answered invalid_grant: Invalid grant: account not found' });
  });

  it('says the credentials were refused for a key file that cannot be read', async () => {
    const e = await googleTokenSource({ keyFile: join(dir, 'missing.json') })().catch((err: unknown) => err);
    expect(e).toMatchObject({ refused: true, message: expect.stringContaining('cannot read the key file') });
  });

  it('takes a 503 from the token endpoint as passing, never quoting its page', async () => {
    mock.vertex.setTokenFault({ status: 503, body: '<html>down</html>' });
    const e = await googleTokenSource({ keyFile })().catch((err: unknown) => err);
    expect(e).toMatchObject({ refused: false, httpStatus: 503 });
    expect((e as Error).message).not.toContain('<html>');
  }, 15_000);

  it('posts to tokenUrl when one is configured, whatever the key file says', async () => {
    const elsewhere = { ...account.keyFile, token_uri: 'http://127.0.0.1:1/never' };
    const file = join(dir, 'elsewhere.json');
    writeFileSync(file, JSON.stringify(elsewhere));
    await googleTokenSource({ keyFile: file, tokenUrl: `${mock.url}/token` })();
    expect(mock.vertex.tokenRequests()).toBe(1);
  });
});
