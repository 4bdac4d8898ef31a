/**
 * Hostile headers and framing (issue #10): authentication before the body (an unauthenticated
 * upload is refused 401 without being read, whatever its declared size), throttled
 * brute force, CR/LF and NUL in header values, duplicated and conflicting credentials, huge
 * headers, and request-framing tricks (Content-Length with Transfer-Encoding, bad chunking,
 * pipelining behind a harmless request). Raw sockets throughout: Node's own client would
 * refuse to send most of this.
 */
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, OTHER_TENANT_KEY, TENANT_KEY } from '../support/gateway-harness.js';
import { header, requestBytes, type RequestSpec } from '../support/hostile-http.js';
import { BODY_LIMIT, describeFailure, failIfAny, fuzz, HostileSuite, NATIVE_MODEL, probeAll, type Expectation, type Face } from '../support/hostile-oracle.js';

const GENERATE = `{"contents":[{"parts":[{"text":"a banana"}]}]}`;

interface BodyRoute {
  path: string;
  method: string;
  face: Face;
  contentType: string;
  /** The credential header this route's clients send, built from a key. */
  credential: (key: string) => [string, string];
  validKey: string;
}

const goog = (key: string): [string, string] => ['x-goog-api-key', key];
const bearer = (key: string): [string, string] => ['Authorization', `Bearer ${key}`];
/** Only the content type matters: these uploads are refused before their body is read. */
const FORM = 'hostileHeadersBoundary';

const BODY_ROUTES: readonly BodyRoute[] = [
  ...['generateContent', 'streamGenerateContent', 'countTokens'].flatMap((action) =>
    ['v1beta', 'v1'].map((v): BodyRoute => ({ path: `/${v}/models/${NATIVE_MODEL}:${action}`, method: 'POST', face: 'google', contentType: 'application/json', credential: goog, validKey: TENANT_KEY })),
  ),
  ...['/v1/images/generations', '/v1beta/openai/images/generations'].map((path): BodyRoute => ({ path, method: 'POST', face: 'openai', contentType: 'application/json', credential: bearer, validKey: TENANT_KEY })),
  ...['/v1/images/edits', '/v1beta/openai/images/edits'].map((path): BodyRoute => ({ path, method: 'POST', face: 'openai', contentType: `multipart/form-data; boundary=${FORM}`, credential: bearer, validKey: TENANT_KEY })),
  { path: '/admin/tenants', method: 'POST', face: 'admin', contentType: 'application/json', credential: bearer, validKey: ADMIN_TOKEN },
  { path: '/admin/tenants/victim', method: 'PATCH', face: 'admin', contentType: 'application/json', credential: bearer, validKey: ADMIN_TOKEN },
  { path: '/admin/tenants/victim/keys', method: 'POST', face: 'admin', contentType: 'application/json', credential: bearer, validKey: ADMIN_TOKEN },
];

type Credential = 'none' | 'invalid' | 'otherScheme';
const credentialHeaders = (route: BodyRoute, cred: Credential): Array<[string, string]> =>
  cred === 'none' ? [] : cred === 'invalid' ? [route.credential('not-a-valid-key')] : route.credential === goog ? [bearer('not-a-valid-key')] : [goog('not-a-valid-key')];

/** How an unauthenticated body is (not) delivered. */
type Delivery = 'withheld' | 'declaredOverLimit' | 'declaredHuge' | 'chunkedUnfinished' | 'wholeUnderLimit' | 'expectContinue';
const DELIVERIES: readonly Delivery[] = ['withheld', 'declaredOverLimit', 'declaredHuge', 'chunkedUnfinished', 'wholeUnderLimit', 'expectContinue'];

function unauthenticatedUpload(route: BodyRoute, cred: Credential, delivery: Delivery): Buffer {
  const headers: Array<[string, string]> = [...credentialHeaders(route, cred), ['Content-Type', route.contentType]];
  const head = (extra: Array<[string, string]>) => requestBytes({ method: route.method, target: route.path, headers: [...headers, ...extra], contentLength: false });
  switch (delivery) {
    case 'withheld':
      return head([['Content-Length', String(200_000)]]);
    case 'declaredOverLimit':
      return Buffer.concat([head([['Content-Length', String(BODY_LIMIT + 1)]]), Buffer.from('{"contents":[')]);
    case 'declaredHuge':
      return head([['Content-Length', String(10 * 1024 * 1024 * 1024)]]);
    case 'chunkedUnfinished':
      return Buffer.concat([head([['Transfer-Encoding', 'chunked']]), Buffer.from(`10000\r\n${'x'.repeat(0x10000)}\r\n`)]);
    case 'wholeUnderLimit': {
      const body = Buffer.alloc(BODY_LIMIT - 1024, 0x20);
      body.write('{"contents":[]}', 0);
      return Buffer.concat([head([['Content-Length', String(body.length)]]), body]);
    }
    case 'expectContinue':
      return head([['Content-Length', String(200_000)], ['Expect', '100-continue']]);
  }
}

let suite: HostileSuite;
let initialTenants: string;
const tenantsSnapshot = async () => JSON.stringify({ tenants: await suite.gw.gateway.db.listTenants(), keys: await suite.gw.gateway.db.listKeys('victim') });

beforeAll(async () => {
  suite = await HostileSuite.start({ name: 'headers', addressBlock: 15, perAddress: 5 });
  await suite.gw.gateway.db.createTenant({ id: 'victim', project: 'default', limits: {}, budget: {}, disabled: false }, Date.now());
  await suite.gw.gateway.tenants.refresh();
  initialTenants = await tenantsSnapshot();
});
afterAll(async () => {
  await suite?.close();
});
afterEach(async () => {
  const problems = await suite.afterBatch();
  const now = await tenantsSnapshot();
  if (now !== initialTenants) {
    problems.push(`tenants or keys changed by unauthenticated requests:\n  before ${initialTenants}\n  after  ${now}`);
    initialTenants = now;
  }
  failIfAny(problems);
});

describe('authentication comes before the body', () => {
  it('refuses an unauthenticated upload with 401 in the route\'s shape without reading it, whatever its declared size or framing', async () => {
    // The admin API reads only Authorization: for it a Google-style header ('otherScheme') is simply no credential.
    const cases = BODY_ROUTES.flatMap((route) => (['none', 'invalid', 'otherScheme'] as const).flatMap((cred) => DELIVERIES.map((delivery) => ({ route, cred, delivery }))));
    const failures = await probeAll(cases, 24, ({ route, cred, delivery }) =>
      // Nothing more is sent: an answer can only come from a gateway that did not wait for the body.
      suite.probe(`${route.method} ${route.path}, ${cred} credential, body ${delivery}`, unauthenticatedUpload(route, cred, delivery), { face: route.face, statuses: [401], upstream: 'none' }, { timeoutMs: 2_000 }),
    );
    failIfAny(failures, 30);
  });

  it('fuzz: unauthenticated bodies of any size and framing get 401 and reach nobody', async () => {
    const arb = fc.tuple(
      fc.nat({ max: BODY_ROUTES.length - 1 }),
      fc.constantFrom<Credential>('none', 'invalid', 'otherScheme'),
      fc.integer({ min: 0, max: 4 * BODY_LIMIT }),
      fc.integer({ min: 0, max: 100 }),
      fc.boolean(),
    );
    await fuzz(arb, { seed: 0x4a50_0001, numRuns: 300 }, async ([r, cred, declared, sentPercent, chunkedFraming]) => {
      const route = BODY_ROUTES[r]!;
      const sent = Math.floor((Math.min(declared, BODY_LIMIT + 4096) * sentPercent) / 100);
      const headers: Array<[string, string]> = [...credentialHeaders(route, cred), ['Content-Type', route.contentType]];
      const framing: Array<[string, string]> = chunkedFraming ? [['Transfer-Encoding', 'chunked']] : [['Content-Length', String(declared)]];
      const head = requestBytes({ method: route.method, target: route.path, headers: [...headers, ...framing], contentLength: false });
      const body = chunkedFraming ? Buffer.from(sent > 0 ? `${sent.toString(16)}\r\n${'y'.repeat(sent)}\r\n` : '') : Buffer.alloc(sent, 0x79);
      return suite.probe(`${route.method} ${route.path}, ${cred}, declared ${declared}, sent ${sent}${chunkedFraming ? ' chunked' : ''}`, Buffer.concat([head, body]), { face: route.face, statuses: [401], upstream: 'none' }, { timeoutMs: 2_000 });
    });
  });

  it('throttles a burst of failed keys from one address: 401 twenty times, then 429 in the route\'s shape with Retry-After, before any body is read', async () => {
    const failures: string[] = [];
    for (const route of [BODY_ROUTES[0]!, BODY_ROUTES[6]!]) {
      const address = suite.addresses.fresh();
      for (let i = 1; i <= 24; i++) {
        const bytes = unauthenticatedUpload(route, 'invalid', 'withheld');
        const outcome = await suite.send(bytes, { localAddress: address, timeoutMs: 2_000 });
        const exp: Expectation = { face: route.face, statuses: i <= 20 ? [401] : [429], upstream: 'none' };
        const problems = suite.check(outcome, exp);
        if (i > 20 && outcome.res.status === 429 && header(outcome.res, 'retry-after') === undefined) problems.push('429 without Retry-After');
        if (problems.length) {
          failures.push(describeFailure(`${route.path}: failure #${i} from ${address}`, outcome, problems));
          break; // the rest of the burst would only repeat it
        }
      }
    }
    failIfAny(failures);
  });
});

describe('CR, LF and NUL in headers', () => {
  interface InjectionRow {
    label: string;
    /** Header block lines (without the final empty line), written as given. */
    headers: string;
    statuses: number[];
  }
  const key = `x-goog-api-key: ${TENANT_KEY}`;
  const ROWS: InjectionRow[] = [
    { label: 'bare LF inside the key header', headers: `x-goog-api-key: nope\nX-Injected: 1`, statuses: [400, 401] },
    { label: 'bare CR inside the key header', headers: `x-goog-api-key: nope\rX-Injected: 1`, statuses: [400, 401] },
    { label: 'NUL inside the key header', headers: `x-goog-api-key: ${TENANT_KEY}\x00X-Injected: 1`, statuses: [400, 401] },
    { label: 'obs-fold continuation line', headers: `x-goog-api-key: nope\r\n ${TENANT_KEY}`, statuses: [400, 401] },
    { label: 'space before the colon', headers: `x-goog-api-key : ${TENANT_KEY}`, statuses: [400, 401] },
    { label: 'header line without a colon', headers: `${key}\r\nX-No-Colon`, statuses: [400] },
    { label: 'invalid character in a header name', headers: `${key}\r\nX(Bad): 1`, statuses: [400] },
    { label: 'non-ASCII bytes after the key', headers: `x-goog-api-key: ${TENANT_KEY}\xff\xfe`, statuses: [400, 401] },
    { label: 'UTF-8 CJK in x-request-id (response splitting on latin1 truncation)', headers: `${key}\r\nx-request-id: a\xe5\x98\x8a\xe5\x98\x8dX-Injected: 1`, statuses: [200, 400] },
    { label: 'encoded CR LF in x-request-id', headers: `${key}\r\nx-request-id: a%0d%0aX-Injected:%201`, statuses: [200, 400] },
    { label: 'x-request-id with a Set-Cookie lookalike', headers: `${key}\r\nx-request-id: a\r\nSet-Cookie: pwned=1`, statuses: [200, 400] },
    { label: 'a 200-character x-request-id', headers: `${key}\r\nx-request-id: ${'r'.repeat(200)}`, statuses: [200, 400] },
    { label: 'Content-Type with CR LF injection attempt', headers: `${key}\r\nContent-Type: application/json\rX-Injected: 1`, statuses: [200, 400, 415] },
  ];

  it('answers header injection attempts without a 5xx, in a gateway shape, and never reflects an injected header', async () => {
    const failures: string[] = [];
    for (const row of ROWS) {
      for (const path of [`/v1beta/models/${NATIVE_MODEL}:countTokens`, `/v1beta/models/${NATIVE_MODEL}:generateContent`]) {
        const bytes = Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\n${row.headers}\r\nContent-Type: application/json\r\nContent-Length: ${GENERATE.length}\r\nConnection: close\r\n\r\n${GENERATE}`, 'latin1');
        const outcome = await suite.send(bytes, { timeoutMs: 3_000 });
        const problems = suite.check(outcome, { face: outcome.res.status === 400 ? 'any' : 'google', statuses: row.statuses, upstream: 'allowed' });
        for (const [name, value] of outcome.res.headers) {
          if (name === 'x-injected' || name === 'set-cookie') problems.push(`the answer carries an injected ${name} header`);
          if (name === 'x-request-id' && !/^[A-Za-z0-9._:-]{1,128}$/.test(value)) problems.push(`x-request-id echoed unsafely: ${JSON.stringify(value)}`);
        }
        if (problems.length) failures.push(describeFailure(`${path}: ${row.label}`, outcome, problems));
      }
    }
    failIfAny(failures, 30);
  });

  it('fuzz: control bytes anywhere in header values are answered without a 5xx and never authenticate a mangled key', async () => {
    const controls = ['\x00', '\x01', '\x08', '\x0b', '\x0c', '\r', '\n', '\x1b', '\x7f', '\x80', '\xff', '\t', ' '];
    const arb = fc.tuple(fc.constantFrom(...controls), fc.nat({ max: TENANT_KEY.length }), fc.constantFrom('x-goog-api-key', 'authorization'));
    await fuzz(arb, { seed: 0x4a50_0002, numRuns: 300 }, async ([c, at, name]) => {
      const mangled = TENANT_KEY.slice(0, at) + c + TENANT_KEY.slice(at);
      const value = name === 'authorization' ? `Bearer ${mangled}` : mangled;
      const bytes = Buffer.from(`POST /v1beta/models/${NATIVE_MODEL}:countTokens HTTP/1.1\r\nHost: x\r\n${name}: ${value}\r\nContent-Type: application/json\r\nContent-Length: ${GENERATE.length}\r\nConnection: close\r\n\r\n${GENERATE}`, 'latin1');
      // Leading/trailing whitespace is not part of a header value (RFC 9110 §5.5): that key is the real one.
      const atEdge = at === 0 || at === TENANT_KEY.length;
      const stillValid = (c === ' ' || c === '\t') && atEdge;
      // A bare CR or LF right after the key may end the header line there (lenient parsers do): the key is then intact.
      const mayEndLine = (c === '\r' || c === '\n') && at === TENANT_KEY.length;
      const exp: Expectation = stillValid
        ? { face: 'google', statuses: [200], upstream: 'allowed' }
        : mayEndLine
          ? { face: 'any', statuses: [200, 400, 401], upstream: 'allowed' }
          : { face: 'any', statuses: [400, 401], upstream: 'none' };
      return suite.probe(`${name} with ${JSON.stringify(c)} at ${at}`, bytes, exp, { timeoutMs: 3_000 });
    });
  });
});

describe('duplicated credentials', () => {
  const native = `/v1beta/models/${NATIVE_MODEL}:countTokens`;
  const body = GENERATE;
  const post = (path: string, headers: Array<[string, string]>, contentType = 'application/json', data = body): RequestSpec => ({ method: 'POST', target: path, headers: [...headers, ['Content-Type', contentType]], body: data });

  interface DupRow {
    label: string;
    spec: RequestSpec;
    face: Face;
    statuses: number[];
  }
  const ROWS: DupRow[] = [
    { label: 'x-goog-api-key twice: invalid, then valid', spec: post(native, [goog('nope'), goog(TENANT_KEY)]), face: 'google', statuses: [400, 401] },
    { label: 'x-goog-api-key twice: valid, then invalid', spec: post(native, [goog(TENANT_KEY), goog('nope')]), face: 'google', statuses: [400, 401] },
    { label: "x-goog-api-key twice: two tenants' keys", spec: post(native, [goog(TENANT_KEY), goog(OTHER_TENANT_KEY)]), face: 'google', statuses: [400, 401] },
    { label: 'Authorization twice: invalid, then valid', spec: post(native, [bearer('nope'), bearer(TENANT_KEY)]), face: 'google', statuses: [400, 401] },
    { label: 'Authorization twice: valid, then invalid', spec: post(native, [bearer(TENANT_KEY), bearer('nope')]), face: 'google', statuses: [400, 401] },
    { label: "Authorization twice: two tenants' keys", spec: post('/v1/images/generations', [bearer(TENANT_KEY), bearer(OTHER_TENANT_KEY)], 'application/json', '{"prompt":"x"}'), face: 'openai', statuses: [400, 401] },
    { label: 'Authorization twice on images/generations: valid, then invalid', spec: post('/v1/images/generations', [bearer(TENANT_KEY), bearer('nope')], 'application/json', '{"prompt":"x"}'), face: 'openai', statuses: [400, 401] },
    { label: 'one Authorization with two Bearer credentials', spec: post('/v1/images/generations', [['Authorization', `Bearer ${TENANT_KEY}, Bearer nope`]], 'application/json', '{"prompt":"x"}'), face: 'openai', statuses: [400, 401] },
    { label: '?key= twice: valid, then invalid', spec: post(`${native}?key=${TENANT_KEY}&key=nope`, []), face: 'google', statuses: [400, 401] },
    { label: "?key= twice: two tenants' keys", spec: post(`${native}?key=${TENANT_KEY}&key=${OTHER_TENANT_KEY}`, []), face: 'google', statuses: [400, 401] },
    { label: 'admin Authorization twice: wrong, then the token', spec: { method: 'GET', target: '/admin/tenants', headers: [bearer('nope'), bearer(ADMIN_TOKEN)] }, face: 'admin', statuses: [400, 401] },
    { label: 'admin Authorization twice: the token, then wrong', spec: { method: 'GET', target: '/admin/tenants', headers: [bearer(ADMIN_TOKEN), bearer('nope')] }, face: 'admin', statuses: [400, 401] },
    { label: 'admin: the token twice in one Authorization', spec: { method: 'GET', target: '/admin/tenants', headers: [['Authorization', `Bearer ${ADMIN_TOKEN}, Bearer nope`]] }, face: 'admin', statuses: [400, 401] },
  ];

  it('never authenticates a request whose credential is given twice with different values (which one would be billed?)', async () => {
    const failures: string[] = [];
    for (const row of ROWS) failures.push(...(await suite.probe(row.label, row.spec, { face: row.face, statuses: row.statuses, upstream: 'none' })));
    failIfAny(failures, 20);
  });

  it('answers the same valid key given twice, or in two forms, without a 5xx', async () => {
    const failures: string[] = [];
    const rows: Array<[string, RequestSpec]> = [
      ['x-goog-api-key twice, same key', post(native, [goog(TENANT_KEY), goog(TENANT_KEY)])],
      ['Authorization twice, same key', post(native, [bearer(TENANT_KEY), bearer(TENANT_KEY)])],
      ['x-goog-api-key and Authorization, same key', post(native, [goog(TENANT_KEY), bearer(TENANT_KEY)])],
      ['x-goog-api-key valid, Authorization invalid', post(native, [goog(TENANT_KEY), bearer('nope')])],
      ['x-goog-api-key invalid, Authorization valid', post(native, [goog('nope'), bearer(TENANT_KEY)])],
    ];
    for (const [label, spec] of rows) failures.push(...(await suite.probe(label, spec, { face: 'google', statuses: [200, 400, 401], upstream: 'allowed' })));
    failIfAny(failures);
  });
});

describe('huge headers', () => {
  const native = `/v1beta/models/${NATIVE_MODEL}:countTokens`;
  const withHeaders = (headers: Array<[string, string]>): RequestSpec => ({ method: 'POST', target: native, headers: [...headers, ['Content-Type', 'application/json']], body: GENERATE });

  it("answers headers over Node's limit with 431 in a gateway shape, and headers under it normally", async () => {
    const failures: string[] = [];
    const rows: Array<[string, RequestSpec, number[]]> = [
      ['one 20 KB header', withHeaders([goog(TENANT_KEY), ['X-Pad', 'p'.repeat(20_000)]]), [431]],
      ['one 100 KB header', withHeaders([goog(TENANT_KEY), ['X-Pad', 'p'.repeat(100_000)]]), [431]],
      ['3000 small headers', withHeaders([goog(TENANT_KEY), ...Array.from({ length: 3000 }, (_, i): [string, string] => [`X-H${i}`, 'v'])]), [431]],
      ['a 20 KB key', withHeaders([goog('k'.repeat(20_000))]), [431]],
      ['a 20 KB Bearer token', withHeaders([bearer('k'.repeat(20_000))]), [431]],
      ['a 12 KB key (under the limit)', withHeaders([goog('k'.repeat(12_000))]), [401]],
      ['a 12 KB header beside a valid key', withHeaders([goog(TENANT_KEY), ['X-Pad', 'p'.repeat(12_000)]]), [200]],
      // Node counts more than the bytes per header line: 1000 such headers are already over its limit.
      ['500 small headers beside a valid key', withHeaders([goog(TENANT_KEY), ...Array.from({ length: 500 }, (_, i): [string, string] => [`X-H${i}`, 'v'])]), [200]],
      ['a 12 KB cookie beside a valid key', withHeaders([goog(TENANT_KEY), ['Cookie', `a=${'c'.repeat(12_000)}`]]), [200]],
    ];
    for (const [label, spec, statuses] of rows) {
      failures.push(...(await suite.probe(label, spec, { face: statuses[0] === 431 ? 'any' : 'google', statuses, upstream: statuses[0] === 200 ? 'allowed' : 'none' }, { timeoutMs: 3_000 })));
    }
    failIfAny(failures);
  });
});

describe('request framing', () => {
  const native = `/v1beta/models/${NATIVE_MODEL}:generateContent`;
  const head = (extra: string) => `POST ${native} HTTP/1.1\r\nHost: x\r\nx-goog-api-key: ${TENANT_KEY}\r\nContent-Type: application/json\r\n${extra}Connection: close\r\n\r\n`;
  const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

  it('refuses ambiguous or broken framing with 400 in a gateway shape, and sends nothing to Google', async () => {
    const rows: Array<[string, string, number[]]> = [
      ['Content-Length and Transfer-Encoding together', `${head(`Content-Length: ${GENERATE.length}\r\nTransfer-Encoding: chunked\r\n`)}${chunk(GENERATE)}0\r\n\r\n`, [400]],
      ['two different Content-Lengths', `${head(`Content-Length: ${GENERATE.length}\r\nContent-Length: 5\r\n`)}${GENERATE}`, [400]],
      ['Content-Length -1', `${head('Content-Length: -1\r\n')}${GENERATE}`, [400]],
      ['Content-Length abc', `${head('Content-Length: abc\r\n')}${GENERATE}`, [400]],
      ['Content-Length 1e3', `${head('Content-Length: 1e3\r\n')}${GENERATE}`, [400]],
      ['Content-Length +10', `${head('Content-Length: +10\r\n')}${GENERATE}`, [400]],
      ['Transfer-Encoding: chunked, chunked', `${head('Transfer-Encoding: chunked, chunked\r\n')}${chunk(GENERATE)}0\r\n\r\n`, [400]],
      // Node leaves transfer codings other than chunked undecoded: these bytes happen to be plain JSON.
      ['Transfer-Encoding: gzip, chunked with plain chunks', `${head('Transfer-Encoding: gzip, chunked\r\n')}${chunk(GENERATE)}0\r\n\r\n`, [200, 400, 415]],
      ['Transfer-Encoding: xchunked', `${head('Transfer-Encoding: xchunked\r\n')}${chunk(GENERATE)}0\r\n\r\n`, [400, 411, 415]],
      ['Transfer-Encoding with a trailing space name', `${head('Transfer-Encoding : chunked\r\n')}${chunk(GENERATE)}0\r\n\r\n`, [400]],
      ['invalid chunk size', `${head('Transfer-Encoding: chunked\r\n')}zz\r\n${GENERATE}\r\n0\r\n\r\n`, [400]],
      ['negative chunk size', `${head('Transfer-Encoding: chunked\r\n')}-1\r\n${GENERATE}\r\n0\r\n\r\n`, [400]],
      ['a 100 KB chunk extension', `${head('Transfer-Encoding: chunked\r\n')}${GENERATE.length.toString(16)};ext=${'e'.repeat(100_000)}\r\n${GENERATE}\r\n0\r\n\r\n`, [400, 413, 431]],
      ['Content-Length shorter than the body, the rest a smuggled request', `${head('Content-Length: 10\r\n')}${GENERATE}GET /admin/tenants HTTP/1.1\r\nHost: x\r\n\r\n`, [400]],
      ['Content-Encoding: gzip on a plain body', `${head(`Content-Encoding: gzip\r\nContent-Length: ${GENERATE.length}\r\n`)}${GENERATE}`, [200, 400, 415]],
    ];
    const failures: string[] = [];
    for (const [label, raw, statuses] of rows) {
      const outcome = await suite.send(Buffer.from(raw, 'latin1'), { timeoutMs: 3_000 });
      const problems = suite.check(outcome, { face: outcome.res.status === 400 ? 'any' : 'google', statuses, upstream: statuses.includes(200) ? 'allowed' : 'none' });
      if (/"tenants"/.test(outcome.res.raw.toString('latin1'))) problems.push('the smuggled admin request was answered');
      if (problems.length) failures.push(describeFailure(label, outcome, problems));
    }
    failIfAny(failures, 20);
  });

  it('waits for (or drops) a body cut short, and never forwards the part it got', async () => {
    // Concurrently: each waits out the client's patience.
    const runs = [false, true].map(async (endAfterWrite) => {
      const failures: string[] = [];
      const bytes = Buffer.from(`${head(`Content-Length: ${GENERATE.length + 100}\r\n`)}${GENERATE}`, 'latin1');
      failures.push(...(await suite.probe(`Content-Length 100 over the body${endAfterWrite ? ', then half-close' : ''}`, bytes, { face: 'any', statuses: [400, 408], upstream: 'none', noAnswerOk: true, waitingOk: true }, { timeoutMs: 1_000, endAfterWrite })));
      const chunkedBytes = Buffer.from(`${head('Transfer-Encoding: chunked\r\n')}${chunk(GENERATE)}`, 'latin1');
      failures.push(...(await suite.probe(`chunked without the last chunk${endAfterWrite ? ', then half-close' : ''}`, chunkedBytes, { face: 'any', statuses: [400, 408], upstream: 'none', noAnswerOk: true, waitingOk: true }, { timeoutMs: 1_000, endAfterWrite })));
      // The chunk claims more bytes than follow: what looks like the last chunk is still its data.
      const shortChunk = Buffer.from(`${head('Transfer-Encoding: chunked\r\n')}ffff\r\n${GENERATE}\r\n0\r\n\r\n`, 'latin1');
      failures.push(...(await suite.probe(`a chunk shorter than its size${endAfterWrite ? ', then half-close' : ''}`, shortChunk, { face: 'any', statuses: [400, 408], upstream: 'none', noAnswerOk: true, waitingOk: true }, { timeoutMs: 1_000, endAfterWrite })));
      return failures;
    });
    failIfAny((await Promise.all(runs)).flat());
  });

  it('answers a pipelined admin request behind a harmless one without the token: never the admin answer', async () => {
    const pipelined = Buffer.from(
      'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' + 'GET /admin/tenants HTTP/1.1\r\nHost: x\r\n\r\n' + 'GET /%61dmin/tenants HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'latin1',
    );
    // Read the connection to its end: three answers, in order.
    const all = await readAll(pipelined);
    const statuses = [...all.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses[0], all.slice(0, 500)).toBe(200);
    expect(statuses.slice(1).every((s) => s === 401 || s === 404), all.slice(0, 2000)).toBe(true);
    expect(all).not.toMatch(/"tenants"/);
  });
});

describe('stalled uploads', () => {
  it('keeps answering other clients while 40 connections hold half-sent bodies', async () => {
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const socket = connect({ port: suite.port, host: '127.0.0.1', localAddress: suite.addresses.next() });
        socket.on('error', () => {});
        socket.write(`POST /v1beta/models/${NATIVE_MODEL}:generateContent HTTP/1.1\r\nHost: x\r\nx-goog-api-key: ${TENANT_KEY}\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{"contents":[`);
        sockets.push(socket);
      }
      const failures: string[] = [];
      failures.push(...(await suite.probe('GET /healthz beside stalled uploads', { method: 'GET', target: '/healthz' }, { face: 'google', statuses: [200] }, { timeoutMs: 2_000 })));
      failures.push(...(await suite.probe('a generate call beside stalled uploads', { method: 'POST', target: `/v1beta/models/${NATIVE_MODEL}:generateContent`, headers: [goog(TENANT_KEY), ['Content-Type', 'application/json']], body: GENERATE }, { face: 'google', statuses: [200] }, { timeoutMs: 3_000 })));
      failIfAny(failures);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});

/** Writes `bytes` on one connection and returns everything read until the server closes it. */
function readAll(bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ port: suite.port, host: '127.0.0.1', localAddress: suite.addresses.next() });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, 3_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', done);
    socket.on('error', () => {});
    socket.write(bytes);
  });
}

describe('slow clients are cut off (server.headersTimeoutMs, server.requestTimeoutMs)', () => {
  const HEADERS_TIMEOUT_MS = 1_000;
  const REQUEST_TIMEOUT_MS = 2_000;
  // Node checks the timeouts every second: allow that, and some slack for a loaded machine.
  const SLACK_MS = 2_500;
  let slow: HostileSuite;
  beforeAll(async () => {
    slow = await HostileSuite.start({ name: 'timeouts', addressBlock: 16, serverYaml: `headersTimeoutMs: ${HEADERS_TIMEOUT_MS}, requestTimeoutMs: ${REQUEST_TIMEOUT_MS}` });
  });
  afterAll(async () => {
    await slow?.close();
  });

  const trickle = (text: string) => [...Buffer.from(text, 'latin1')].map((b) => Buffer.from([b]));

  it('answers 408 in a gateway shape (or closes) to trickled headers, trickled bodies and silent connections, within the timeouts, forwarding nothing', async () => {
    const body = `{"contents":[{"parts":[{"text":"${'t'.repeat(400)}"}]}],"prompt":"x"}`;
    const slowBody = (target: string, auth: [string, string]) => [
      requestBytes({ method: 'POST', target, headers: [auth, ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]], contentLength: false }),
      ...trickle(body),
    ];
    const cases: Array<[label: string, chunks: Buffer[], limitMs: number]> = [
      ...['/admin/tenants', `/v1beta/models/${NATIVE_MODEL}:generateContent`, '/v1/images/generations'].map(
        (target): [string, Buffer[], number] => [`headers trickled to ${target}`, trickle(`POST ${target} HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(200)}\r\n\r\n`), HEADERS_TIMEOUT_MS],
      ),
      [`a body trickled to the native face`, slowBody(`/v1beta/models/${NATIVE_MODEL}:generateContent`, goog(TENANT_KEY)), REQUEST_TIMEOUT_MS],
      ['a body trickled to images/generations', slowBody('/v1/images/generations', bearer(TENANT_KEY)), REQUEST_TIMEOUT_MS],
      ['a connection that sends nothing', [Buffer.alloc(0)], HEADERS_TIMEOUT_MS],
    ];
    // Concurrently: each waits out a timeout of its own.
    const results = await Promise.all(
      cases.map(async ([label, chunks, limitMs]) => {
        const outcome = await slow.send(chunks, { pauseMs: 50, timeoutMs: limitMs + SLACK_MS + 1_000 });
        const problems = slow.check(outcome, { face: 'any', statuses: [408], upstream: 'none', noAnswerOk: true });
        if (outcome.res.elapsedMs > limitMs + SLACK_MS) problems.push(`cut off only after ${Math.round(outcome.res.elapsedMs)} ms (limit ${limitMs} ms)`);
        return problems.length ? [describeFailure(label, outcome, problems)] : [];
      }),
    );
    failIfAny([...results.flat(), ...(await slow.afterBatch())]);
  });
});
