/**
 * Request lines that name a route without spelling it plainly (issue #10: admin bypass through
 * percent-encoded and absolute-form paths). Written over raw sockets, since fetch and undici
 * would normalise them. With ADMIN_TOKEN unset no admin route may answer anything but 404 (a
 * malformed URL may get 400, an overlong one 414/431); with it set, none may answer 2xx without
 * the token; and in neither case may anything change the tenants or keys. Tenant routes never
 * answer 2xx without a tenant key, and nothing reaches Google for a refused request.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, OTHER_TENANT_KEY, TENANT_KEY } from '../support/gateway-harness.js';
import { requestBytes, sendRaw, type RequestSpec } from '../support/hostile-http.js';
import { failIfAny, fuzz, HostileSuite, type Expectation } from '../support/hostile-oracle.js';
import { adminRoutes, mayBeMalformed, mutatePath, OPS_ROUTES, pathMutationArb, TENANT_ROUTES, type Route } from '../support/hostile-paths.js';
import { hashKey } from '../../src/tenants/keys.js';

type AdminCredential = 'none' | 'wrongBearer' | 'tenantBearer' | 'tokenInGoogHeader' | 'tokenInQuery' | 'basic' | 'tokenPrefix' | 'tokenSuffix' | 'emptyBearer';
type TenantCredential = 'none' | 'invalid' | 'valid' | 'validInQuery';
const ADMIN_CREDENTIALS: readonly AdminCredential[] = ['none', 'wrongBearer', 'tenantBearer', 'tokenInGoogHeader', 'tokenInQuery', 'basic', 'tokenPrefix', 'tokenSuffix', 'emptyBearer'];

function withAdminCredential(target: string, cred: AdminCredential): { target: string; headers: Array<[string, string]> } {
  const headers: Array<[string, string]> = [];
  switch (cred) {
    case 'none':
      break;
    case 'wrongBearer':
      headers.push(['Authorization', 'Bearer not-the-admin-token']);
      break;
    case 'tenantBearer':
      headers.push(['Authorization', `Bearer ${TENANT_KEY}`]);
      break;
    case 'tokenInGoogHeader':
      headers.push(['x-goog-api-key', ADMIN_TOKEN]);
      break;
    case 'tokenInQuery':
      return { target: `${target}${target.includes('?') ? '&' : '?'}key=${ADMIN_TOKEN}&token=${ADMIN_TOKEN}`, headers };
    case 'basic':
      headers.push(['Authorization', `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`]);
      break;
    case 'tokenPrefix':
      headers.push(['Authorization', `Bearer ${ADMIN_TOKEN.slice(0, -1)}`]);
      break;
    case 'tokenSuffix':
      headers.push(['Authorization', `Bearer ${ADMIN_TOKEN}x`]);
      break;
    case 'emptyBearer':
      headers.push(['Authorization', 'Bearer ']);
      break;
  }
  return { target, headers };
}

function tenantHeaders(route: Route, cred: TenantCredential): Array<[string, string]> {
  if (cred === 'none' || cred === 'validInQuery') return [];
  const key = cred === 'valid' ? TENANT_KEY : 'not-a-tenant-key';
  return route.face === 'openai' ? [['Authorization', `Bearer ${key}`]] : [['x-goog-api-key', key]];
}

/** `?key=` works on every route (contract §3); a key in the URL must still never be logged or echoed. */
function tenantTarget(target: string, cred: TenantCredential): string {
  return cred === 'validInQuery' ? `${target}${target.includes('?') ? '&' : '?'}key=${TENANT_KEY}` : target;
}

function spec(route: Route, target: string, headers: Array<[string, string]>): RequestSpec {
  const all: Array<[string, string]> = [...headers];
  if (route.body) all.push(['Content-Type', route.body.contentType]);
  return { method: route.method, target: Buffer.from(target, 'latin1'), headers: all, ...(route.body ? { body: route.body.data } : {}) };
}

/** What a request to a (possibly disguised) route may get without the credential it needs. */
function expectation(route: Route, target: string, adminEnabled: boolean, tenantCred: TenantCredential): Expectation {
  const malformed = mayBeMalformed(target) ? [400] : [];
  const long = target.length > 2000 ? [400, 414, 431] : [];
  if (route.kind === 'admin') {
    // With /admin disabled there is no admin surface at all: 404, whatever the disguise.
    if (!adminEnabled) return { face: 'any', statuses: [404, ...malformed, ...long], upstream: 'none' };
    return { face: 'any', statuses: [400, 401, 403, 404, 405, 413, 414, 415, 431], upstream: 'none' };
  }
  if (route.kind === 'tenant' && tenantCred !== 'valid' && tenantCred !== 'validInQuery') return { face: 'any', statuses: [400, 401, 403, 404, 405, 413, 414, 415, 431], upstream: 'none' };
  return { face: 'any', upstream: 'allowed' };
}

/** Raw request lines fetch/undici would never send; `target` may hold raw non-ASCII bytes (latin1). */
interface RawLine {
  label: string;
  bytes: (port: number) => Buffer;
  /** Statuses allowed besides the default refusal (404 with /admin off; 401/404 with it on). */
  also?: number[];
  noAnswerOk?: boolean;
}

const line = (requestLine: string, headers = 'Host: 127.0.0.1\r\nConnection: close\r\n') => Buffer.from(`${requestLine}\r\n${headers}\r\n`, 'latin1');
const get = (target: string) => () => line(`GET ${target} HTTP/1.1`);
const postWithBody = (target: string, body: string) =>
  Buffer.concat([line(`POST ${target} HTTP/1.1`, `Host: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n`), Buffer.from(body)]);

const ADMIN_RAW_LINES: RawLine[] = [
  { label: 'absolute-form', bytes: get('http://x/admin/tenants') },
  { label: 'absolute-form naming the gateway', bytes: (port) => line(`GET http://127.0.0.1:${port}/admin/tenants HTTP/1.1`) },
  { label: 'absolute-form, upper case scheme and host', bytes: get('HTTP://X/admin/tenants') },
  { label: 'absolute-form https', bytes: get('https://x/admin/tenants') },
  { label: 'absolute-form with userinfo', bytes: get('http://admin:x@x/admin/tenants') },
  { label: 'absolute-form, percent-encoded', bytes: get('http://x/%61dmin/tenants') },
  { label: 'double leading slash', bytes: get('//admin/tenants') },
  { label: 'dot segment', bytes: get('/admin/./tenants') },
  { label: 'dot-dot segment', bytes: get('/admin/x/../tenants') },
  { label: 'encoded dot-dot', bytes: get('/admin/x/%2e%2e/tenants') },
  { label: 'upper case', bytes: get('/ADMIN/tenants') },
  { label: 'mixed case', bytes: get('/Admin/Tenants') },
  { label: 'encoded slash', bytes: get('/admin%2ftenants') },
  { label: 'encoded slash, upper hex', bytes: get('/admin%2Ftenants') },
  { label: 'percent-encoded letter', bytes: get('/%61dmin/tenants') },
  { label: 'percent-encoded letter, upper hex', bytes: get('/%41DMIN/tenants') },
  { label: 'every letter percent-encoded', bytes: get(`/${[...'admin'].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}/${[...'tenants'].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}`) },
  { label: 'double percent-encoding', bytes: get('/%2561dmin/tenants') },
  { label: 'overlong UTF-8 slash, encoded', bytes: get('/admin%c0%aftenants') },
  { label: 'overlong UTF-8 letter, encoded', bytes: get('/%c1%a1dmin/tenants') },
  { label: 'overlong UTF-8 slash, raw bytes', bytes: get('/admin\xc0\xaftenants') },
  { label: 'fullwidth letter, raw UTF-8', bytes: get('/\xef\xbd\x81dmin/tenants') },
  { label: 'fullwidth letter, encoded', bytes: get('/%ef%bd%81dmin/tenants') },
  { label: 'raw latin1 byte', bytes: get('/admin/t\xe9nants') },
  { label: 'raw 0xff', bytes: get('/admin/tenants\xff') },
  { label: 'raw UTF-8 in the query', bytes: get('/admin/tenants?q=\xc3\xa9\xff') },
  { label: 'trailing slash', bytes: get('/admin/tenants/') },
  { label: 'matrix parameter', bytes: get('/admin/tenants;x=1') },
  { label: 'fragment', bytes: get('/admin/tenants#x') },
  { label: 'encoded NUL', bytes: get('/admin/tenants%00') },
  { label: 'encoded space', bytes: get('/admin/tenants%20') },
  { label: 'encoded CR LF', bytes: get('/admin/tenants%0d%0aX-Injected:%201') },
  { label: 'backslash', bytes: get('/admin\\tenants') },
  { label: 'encoded backslash', bytes: get('/admin%5ctenants') },
  { label: 'bad percent-encoding', bytes: get('/admin/%zz') },
  { label: 'truncated percent-encoding', bytes: get('/admin/tenants%') },
  { label: 'invalid UTF-8 percent-encoding', bytes: get('/admin/%ff%fe') },
  { label: 'no leading slash', bytes: get('admin/tenants') },
  { label: 'asterisk-form', bytes: get('*') },
  { label: 'OPTIONS *', bytes: () => line('OPTIONS * HTTP/1.1') },
  { label: 'HEAD', bytes: () => line('HEAD /admin/tenants HTTP/1.1') },
  { label: 'HTTP/1.0 without Host', bytes: () => line('GET /admin/tenants HTTP/1.0', 'Connection: close\r\n') },
  { label: 'HTTP/1.1 without Host', bytes: () => line('GET /admin/tenants HTTP/1.1', 'Connection: close\r\n'), also: [400] },
  { label: 'two Host headers', bytes: () => line('GET /admin/tenants HTTP/1.1', 'Host: a\r\nHost: b\r\nConnection: close\r\n'), also: [400] },
  { label: 'HTTP/2.0 on an HTTP/1 connection', bytes: () => line('GET /admin/tenants HTTP/2.0') },
  { label: 'HTTP/9.9', bytes: () => line('GET /admin/tenants HTTP/9.9') },
  { label: 'no HTTP version', bytes: () => line('GET /admin/tenants') },
  { label: 'lower-case method', bytes: () => line('get /admin/tenants HTTP/1.1') },
  { label: 'unknown method', bytes: () => line('FOO /admin/tenants HTTP/1.1') },
  { label: 'PROPFIND', bytes: () => line('PROPFIND /admin/tenants HTTP/1.1') },
  { label: 'TRACE', bytes: () => line('TRACE /admin/tenants HTTP/1.1') },
  { label: 'two spaces after the method', bytes: () => line('GET  /admin/tenants HTTP/1.1') },
  { label: 'a space inside the target', bytes: () => line('GET /admin/ tenants HTTP/1.1') },
  { label: 'trailing garbage after the version', bytes: () => line('GET /admin/tenants HTTP/1.1 x') },
  { label: 'raw NUL in the target', bytes: () => line('GET /admin/tenants\x00 HTTP/1.1') },
  { label: 'raw DEL in the target', bytes: () => line('GET /admin/t\x7fenants HTTP/1.1') },
  { label: 'raw tab in the target', bytes: () => line('GET /admin\t/tenants HTTP/1.1') },
  { label: 'bare CR in the request line', bytes: () => line('GET /admin/tenants\r HTTP/1.1') },
  { label: 'bare LF line endings', bytes: () => Buffer.from('GET /admin/tenants HTTP/1.1\nHost: x\nConnection: close\n\n', 'latin1') },
  { label: 'empty lines before the request line', bytes: () => Buffer.concat([Buffer.from('\r\n\r\n'), line('GET /admin/tenants HTTP/1.1')]) },
  { label: 'an 8 KB path parameter', bytes: get(`/admin/tenants/${'a'.repeat(8_000)}`) },
  { label: 'a 100 KB query string', bytes: get(`/admin/tenants?x=${'a'.repeat(100_000)}`) },
  { label: 'a 100 KB path', bytes: get(`/admin/${'a/'.repeat(50_000)}`) },
  { label: 'Upgrade: websocket', bytes: () => line('GET /admin/tenants HTTP/1.1', 'Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n') },
  { label: 'Upgrade: h2c', bytes: () => line('GET /admin/tenants HTTP/1.1', 'Host: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n') },
  { label: 'CONNECT', bytes: () => line('CONNECT 127.0.0.1:1 HTTP/1.1'), noAnswerOk: true },
  { label: 'X-Original-URL / X-Rewrite-URL', bytes: () => line('GET /healthz HTTP/1.1', 'Host: x\r\nX-Original-URL: /admin/tenants\r\nX-Rewrite-URL: /admin/tenants\r\nConnection: close\r\n'), also: [200] },
  { label: 'X-HTTP-Method-Override', bytes: () => line('GET /admin/tenants HTTP/1.1', 'Host: x\r\nX-HTTP-Method-Override: DELETE\r\nConnection: close\r\n') },
  { label: 'POST with a 100 KB body', bytes: () => postWithBody('/%61dmin/tenants', `{"id":"pwned","project":"default","x":"${'a'.repeat(100_000)}"}`) },
  { label: 'POST, absolute-form', bytes: () => postWithBody('http://x/admin/tenants', '{"id":"pwned","project":"default"}') },
];

/** Request lines aimed at tenant routes; sent with and without a tenant key. */
const TENANT_RAW_TARGETS: ReadonlyArray<[label: string, target: string]> = [
  ['encoded colon', '/v1beta/models/nano-banana%3agenerateContent'],
  ['encoded colon, pro alias', '/v1beta/models/nano-banana-pro%3agenerateContent'],
  ['encoded colon, canonical id', '/v1/models/gemini-3-pro-image%3AstreamGenerateContent?alt=sse'],
  ['encoded colon, upper hex', '/v1beta/models/nano-banana%3AgenerateContent'],
  ['double-encoded colon', '/v1beta/models/nano-banana%253agenerateContent'],
  ['semicolon for colon', '/v1beta/models/nano-banana;generateContent'],
  ['trailing slash', '/v1beta/models/nano-banana:generateContent/'],
  ['two actions', '/v1beta/models/nano-banana:generateContent:countTokens'],
  ['dot-dot', '/v1beta/models/../models/nano-banana:generateContent'],
  ['upper-case version', '/V1BETA/models/nano-banana:generateContent'],
  ['double slash', '/v1beta//models/nano-banana:generateContent'],
  ['absolute-form', 'http://x/v1beta/models/nano-banana:generateContent'],
  ['encoded NUL', '/v1beta/models/nano-banana:generateContent%00'],
  ['traversal in the model name', '/v1beta/models/%2e%2e%2f%2e%2e%2fadmin:generateContent'],
  ['encoded slashes in the model name', '/v1beta/models/gemini-3-pro-image%2f..%2f..%2fadmin:generateContent'],
  ['models/ prefix encoded', '/v1beta/models/models%2fnano-banana:generateContent'],
  ['non-ASCII model name, raw', '/v1beta/models/nano-banan\xc3\xa1:generateContent'],
  ['non-ASCII model name, encoded', '/v1beta/models/nano-banan%c3%a1:generateContent'],
  ['an 8 KB model name', `/v1beta/models/${'m'.repeat(8_000)}:generateContent`],
  ['a 100 KB query string', `/v1beta/models/nano-banana:generateContent?x=${'q'.repeat(100_000)}`],
  ['encoded images path', '/v1/images%2fgenerations'],
  ['upper-case images path', '/v1/IMAGES/generations'],
  ['absolute-form images path', 'http://x/v1/images/generations'],
  ['openai compat, dot segment', '/v1beta/openai/./images/generations'],
  ['usage, encoded', '/v1/%75sage'],
];

interface Gateways {
  suite: HostileSuite;
  adminEnabled: boolean;
  victimKeyId: string;
  snapshot: () => Promise<string>;
  initial: string;
}

async function startWithVictim(name: string, addressBlock: number, adminEnabled: boolean): Promise<Gateways> {
  const suite = await HostileSuite.start({ name, addressBlock, adminToken: adminEnabled ? ADMIN_TOKEN : null });
  const { db, tenants } = suite.gw.gateway;
  // A tenant made at run time, with a key: what a bypass could read, change or delete.
  await db.createTenant({ id: 'victim', project: 'default', limits: {}, budget: {}, disabled: false }, Date.now());
  const victimKeyId = 'key_victim0000001';
  await db.createKey({ keyId: victimKeyId, tenantId: 'victim', hash: hashKey('victim-tenant-key'), name: 'victim', createdAtMs: Date.now() });
  await tenants.refresh();
  const snapshot = async () => JSON.stringify({ tenants: await db.listTenants(), keys: await db.listKeys('victim'), config: tenants.configTenants().map((t) => t.id) });
  return { suite, adminEnabled, victimKeyId, snapshot, initial: await snapshot() };
}

function defineSuite(title: string, name: string, addressBlock: number, adminEnabled: boolean, seed: number) {
  describe(title, () => {
    let g: Gateways;
    beforeAll(async () => {
      g = await startWithVictim(name, addressBlock, adminEnabled);
    });
    afterAll(async () => {
      await g?.suite.close();
    });
    afterEach(async () => {
      const problems = await g.suite.afterBatch();
      const now = await g.snapshot();
      if (now !== g.initial) {
        problems.push(`tenants or keys changed without the admin token:\n  before ${g.initial}\n  after  ${now}`);
        g.initial = now; // each test reports only its own changes
      }
      failIfAny(problems);
    });

    it(adminEnabled ? 'serves the admin API with the token (the routes under test exist)' : 'answers 404 on every admin route, even with the would-be token', async () => {
      const failures: string[] = [];
      // With the token on, only reads: the writes would change what the other tests watch.
      for (const route of adminRoutes(g.victimKeyId).filter((r) => !adminEnabled || r.method === 'GET')) {
        const headers: Array<[string, string]> = [['Authorization', `Bearer ${ADMIN_TOKEN}`]];
        const exp: Expectation = adminEnabled ? { face: 'admin', statuses: [200], upstream: 'none' } : { face: 'any', statuses: [404], upstream: 'none' };
        failures.push(...(await g.suite.probe(`${route.method} ${route.path} with the token`, spec(route, route.path, headers), exp)));
      }
      failIfAny(failures);
    });

    it(`refuses every admin route without the token, ${adminEnabled ? '401 (never 2xx)' : '404'}, however the credential is presented`, async () => {
      const failures: string[] = [];
      for (const route of adminRoutes(g.victimKeyId)) {
        for (const cred of ADMIN_CREDENTIALS) {
          const { target, headers } = withAdminCredential(route.path, cred);
          const exp: Expectation = adminEnabled ? { face: 'admin', statuses: [401], upstream: 'none' } : { face: 'any', statuses: [404], upstream: 'none' };
          failures.push(...(await g.suite.probe(`${route.method} ${route.path} (${cred})`, spec(route, target, headers), exp)));
        }
      }
      failIfAny(failures);
    });

    it('refuses admin routes named by raw request lines (absolute-form, encodings, non-ASCII bytes, bad syntax, 100 KB URLs)', async () => {
      const failures: string[] = [];
      for (const row of ADMIN_RAW_LINES) {
        const bytes = row.bytes(g.suite.port);
        const target = /^[A-Z]*\s+(\S*)/.exec(bytes.toString('latin1').trimStart())?.[1] ?? '';
        const base = adminEnabled ? [401, 404] : [404];
        const plainLine = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \/\S* HTTP\/1\.[01]\r\n/.test(bytes.toString('latin1').trimStart());
        const malformed = mayBeMalformed(target) || !plainLine ? [400] : [];
        const long = bytes.length > 2000 ? [400, 414, 431] : [];
        const exp: Expectation = { face: 'any', statuses: [...base, ...malformed, ...long, ...(row.also ?? [])], upstream: 'none', ...(row.noAnswerOk ? { noAnswerOk: true } : {}) };
        failures.push(...(await g.suite.probe(`raw request line: ${row.label}`, bytes, exp, { timeoutMs: 3_000 })));
      }
      failIfAny(failures, 40);
    });

    it('refuses tenant routes named by raw request lines without a key, and sends only canonical paths to Google with one', async () => {
      const failures: string[] = [];
      for (const [label, target] of TENANT_RAW_TARGETS) {
        const route = TENANT_ROUTES.find((r) => target.includes('images') ? r.path === '/v1/images/generations' : target.includes('usage') ? r.path === '/v1/usage' : r.path === '/v1beta/models/nano-banana:generateContent')!;
        for (const cred of ['none', 'invalid', 'valid', 'validInQuery'] as const) {
          const exp = expectation(route, target, adminEnabled, cred);
          failures.push(...(await g.suite.probe(`${label} (${cred} key)`, spec(route, tenantTarget(target, cred), tenantHeaders(route, cred)), exp, { timeoutMs: 3_000 })));
        }
      }
      failIfAny(failures, 40);
    });

    it('fuzz: disguised admin paths never reach an admin handler without the token', async () => {
      const routes = adminRoutes(g.victimKeyId);
      const arb = fc.tuple(fc.nat({ max: routes.length - 1 }), fc.constantFrom(...ADMIN_CREDENTIALS), fc.array(pathMutationArb, { minLength: 1, maxLength: 3 }));
      await fuzz(arb, { seed, numRuns: 1_500 }, async ([r, cred, mutations]) => {
        const route = routes[r]!;
        const mutated = mutations.reduce(mutatePath, route.path);
        const { target, headers } = withAdminCredential(mutated, cred);
        return g.suite.probe(`${route.method} ${JSON.stringify(mutated)} (${cred})`, spec(route, target, headers), expectation(route, mutated, adminEnabled, 'none'), { timeoutMs: 3_000 });
      });
    });

    it('fuzz: disguised tenant and ops paths answer without a 5xx, never 2xx without a key, and only canonical paths reach Google', async () => {
      const routes = [...TENANT_ROUTES, ...OPS_ROUTES];
      const arb = fc.tuple(fc.nat({ max: routes.length - 1 }), fc.constantFrom<TenantCredential>('none', 'invalid', 'valid', 'validInQuery'), fc.array(pathMutationArb, { minLength: 1, maxLength: 3 }));
      await fuzz(arb, { seed: seed + 1, numRuns: 1_000 }, async ([r, cred, mutations]) => {
        const route = routes[r]!;
        const mutated = mutations.reduce(mutatePath, route.path);
        const headers = route.kind === 'tenant' ? tenantHeaders(route, cred) : [];
        return g.suite.probe(`${route.method} ${JSON.stringify(mutated)} (${cred} key)`, spec(route, tenantTarget(mutated, cred), headers), expectation(route, mutated, adminEnabled, cred), { timeoutMs: 3_000 });
      });
    });

    it("still authenticates the victim's key and the config tenants afterwards", async () => {
      for (const key of ['victim-tenant-key', TENANT_KEY, OTHER_TENANT_KEY]) {
        const res = await sendRaw(requestBytes({ method: 'GET', target: '/v1beta/models', headers: [['x-goog-api-key', key]] }), { port: g.suite.port });
        expect(res.status, key === 'victim-tenant-key' ? 'victim key' : 'config key').toBe(200);
      }
    });
  });
}

defineSuite('with ADMIN_TOKEN unset (/admin disabled)', 'paths-admin-off', 13, false, 0x7a50_0001);
defineSuite('with ADMIN_TOKEN set', 'paths-admin-on', 14, true, 0x7a50_0011);
