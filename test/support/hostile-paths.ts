/**
 * Every route the gateway serves, and the ways a request line can name one without spelling it
 * plainly: percent-encoding (once, twice, overlong UTF-8), letter case, dot segments, doubled
 * or encoded slashes, absolute-form, path parameters, trailing junk, non-ASCII bytes. Request
 * targets are latin1 "byte strings" so raw non-ASCII bytes survive to the wire.
 */
import fc from 'fast-check';
import { formBody, pngFile, prompt } from './hostile-multipart.js';
import type { Face } from './hostile-oracle.js';

export type RouteKind = 'admin' | 'tenant' | 'ops';

export interface Route {
  method: string;
  path: string;
  kind: RouteKind;
  face: Face;
  body?: { contentType: string; data: Buffer };
}

const json = (value: unknown) => ({ contentType: 'application/json', data: Buffer.from(JSON.stringify(value)) });
const FORM_BOUNDARY = 'hostilePathsBoundary';
const form = { contentType: `multipart/form-data; boundary=${FORM_BOUNDARY}`, data: formBody(FORM_BOUNDARY, [prompt(), { name: 'model', data: 'nano-banana-2' }, pngFile()]) };
const generate = json({ contents: [{ parts: [{ text: 'a banana' }] }] });

/** The admin API's routes (contract §10), aimed at a tenant `victim` with key `victimKeyId`. */
export function adminRoutes(victimKeyId: string): Route[] {
  const r = (method: string, path: string, body?: Route['body']): Route => ({ method, path, kind: 'admin', face: 'admin', ...(body ? { body } : {}) });
  return [
    r('GET', '/admin/tenants'),
    r('POST', '/admin/tenants', json({ id: 'pwned', project: 'default' })),
    r('GET', '/admin/tenants/victim'),
    r('PATCH', '/admin/tenants/victim', json({ disabled: true })),
    r('DELETE', '/admin/tenants/victim'),
    r('POST', '/admin/tenants/victim/keys', json({ name: 'pwned' })),
    r('GET', '/admin/tenants/victim/keys'),
    r('DELETE', `/admin/tenants/victim/keys/${victimKeyId}`),
    r('GET', '/admin/projects/default/quota'),
    r('GET', '/admin/usage?from=2026-01-01&to=2026-12-31'),
    r('GET', '/admin/usage?from=2026-01-01&to=2026-12-31&format=csv&groupBy=tenant'),
    // The admin console's reads (#18).
    r('GET', '/admin/projects'),
    r('GET', '/admin/calls?limit=5'),
    r('GET', '/admin/tenants/victim/budget'),
    r('PUT', '/admin/tenants', json({ id: 'pwned', project: 'default' })),
    r('OPTIONS', '/admin/tenants'),
    r('HEAD', '/admin/tenants'),
  ];
}

export const TENANT_ROUTES: readonly Route[] = [
  { method: 'GET', path: '/v1beta/models', kind: 'tenant', face: 'google' },
  { method: 'GET', path: '/v1beta/models/nano-banana', kind: 'tenant', face: 'google' },
  { method: 'POST', path: '/v1beta/models/nano-banana:generateContent', kind: 'tenant', face: 'google', body: generate },
  { method: 'POST', path: '/v1beta/models/nano-banana:streamGenerateContent?alt=sse', kind: 'tenant', face: 'google', body: generate },
  { method: 'POST', path: '/v1beta/models/nano-banana:countTokens', kind: 'tenant', face: 'google', body: generate },
  { method: 'POST', path: '/v1/models/nano-banana:generateContent', kind: 'tenant', face: 'google', body: generate },
  { method: 'POST', path: '/v1/images/generations', kind: 'tenant', face: 'openai', body: json({ prompt: 'a banana' }) },
  { method: 'POST', path: '/v1/images/edits', kind: 'tenant', face: 'openai', body: form },
  { method: 'GET', path: '/v1/models', kind: 'tenant', face: 'openai' },
  { method: 'GET', path: '/v1/models/nano-banana', kind: 'tenant', face: 'openai' },
  { method: 'GET', path: '/v1/usage', kind: 'tenant', face: 'openai' },
  { method: 'POST', path: '/v1beta/openai/images/generations', kind: 'tenant', face: 'openai', body: json({ prompt: 'a banana' }) },
  { method: 'POST', path: '/v1beta/openai/images/edits', kind: 'tenant', face: 'openai', body: form },
  { method: 'GET', path: '/v1beta/openai/models', kind: 'tenant', face: 'openai' },
];

export const OPS_ROUTES: readonly Route[] = [
  { method: 'GET', path: '/healthz', kind: 'ops', face: 'google' },
  { method: 'GET', path: '/readyz', kind: 'ops', face: 'google' },
  { method: 'GET', path: '/metrics', kind: 'ops', face: 'google' },
];

export type MutationKind = 'pct' | 'pct2' | 'overlong' | 'case' | 'dot' | 'slash' | 'suffix' | 'prefix' | 'unicode' | 'colon' | 'long';

export interface PathMutation {
  kind: MutationKind;
  /** Which character (or slash, or segment) it applies to, modulo what there is. */
  at: number;
  variant: number;
}

export const pathMutationArb: fc.Arbitrary<PathMutation> = fc.record({
  kind: fc.constantFrom<MutationKind>('pct', 'pct', 'pct2', 'overlong', 'case', 'dot', 'slash', 'suffix', 'prefix', 'unicode', 'colon', 'long'),
  at: fc.nat({ max: 1000 }),
  variant: fc.nat({ max: 1000 }),
});

const hex = (code: number, upper: boolean) => {
  const h = code.toString(16).padStart(2, '0');
  return `%${upper ? h.toUpperCase() : h}`;
};
const pick = <T>(list: readonly T[], n: number): T => list[n % list.length]!;
const indexesOf = (s: string, ch: string) => [...s].flatMap((c, i) => (c === ch ? [i] : []));

const DOTS = ['./', '%2e/', '%2E/', 'zz/../', 'zz/%2e%2e/', 'zz/.%2e/', 'zz/%2E%2E/', '.%2f', 'zz%2f..%2f', './/'];
const SLASHES = ['//', '/%2f', '%2f', '%2F', '\\', '%5c', '/;/', '/%09/', '/ /', '%252f', '/./'];
const SUFFIXES = ['/', '?', '#', '?a=b', ';', ';jsessionid=x', '%00', '%20', '.', '%2e', '%0d%0a', '..', '/..', '/.', '%3f', '%23', '~', '*', '%', '%zz', '%e0%80', '\x00', '\x7f', '\xff', '\t'];
const PREFIXES = ['http://x', 'http://127.0.0.1', 'HTTP://X', 'https://x', 'http://x:1', 'http://u:p@x', '//x', 'http://x/..', 'x:', 'h2c://x'];
const COLONS = ['%3a', '%3A', '%253a', ';', '::', ':%20', '%3a%3a', '/'];
/** Fullwidth Latin small letters are U+FF41..; 'ſ' (U+017F) uppercases to 'S', 'ı' (U+0131) to 'I', 'K' (U+212A) lowercases to 'k'. */
const lookalike = (c: string): string | undefined => {
  const code = c.charCodeAt(0);
  if (code >= 0x61 && code <= 0x7a) return String.fromCodePoint(0xff41 + code - 0x61);
  if (code >= 0x41 && code <= 0x5a) return String.fromCodePoint(0xff21 + code - 0x41);
  return undefined;
};
const utf8Latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const pctUtf8 = (s: string, upper: boolean) => [...Buffer.from(s, 'utf8')].map((b) => hex(b, upper)).join('');

/** Applies one mutation to a target (a latin1 byte string). */
export function mutatePath(target: string, m: PathMutation): string {
  const query = target.indexOf('?');
  const path = query < 0 ? target : target.slice(0, query);
  const rest = query < 0 ? '' : target.slice(query);
  const upper = m.variant % 2 === 0;
  const i = path.length > 1 ? 1 + (m.at % (path.length - 1)) : 0;
  const c = path[i] ?? '';
  const at = (replacement: string) => path.slice(0, i) + replacement + path.slice(i + 1) + rest;
  switch (m.kind) {
    case 'pct':
      return at(hex(c.charCodeAt(0), upper));
    case 'pct2':
      return at(`%25${hex(c.charCodeAt(0), upper).slice(1)}`);
    case 'overlong': {
      const code = c.charCodeAt(0);
      const bytes = [0xc0 | (code >> 6), 0x80 | (code & 0x3f)];
      return at(m.variant % 3 === 0 ? String.fromCharCode(...bytes) : bytes.map((b) => hex(b, upper)).join(''));
    }
    case 'case': {
      const segments = path.split('/');
      const k = 1 + (m.at % Math.max(1, segments.length - 1));
      const s = segments[k] ?? '';
      segments[k] = pick([s.toUpperCase(), s.charAt(0).toUpperCase() + s.slice(1), s.replace(/[a-z]/g, (ch, j: number) => (j % 2 ? ch.toUpperCase() : ch))], m.variant);
      return segments.join('/') + rest;
    }
    case 'dot': {
      const slashes = indexesOf(path, '/');
      const s = pick(slashes, m.at);
      return path.slice(0, s + 1) + pick(DOTS, m.variant) + path.slice(s + 1) + rest;
    }
    case 'slash': {
      const slashes = indexesOf(path, '/').filter((s) => s > 0);
      if (slashes.length === 0) return `/${pick(SLASHES, m.variant)}${path.slice(1)}${rest}`;
      const s = pick(slashes, m.at);
      return path.slice(0, s) + pick(SLASHES, m.variant) + path.slice(s + 1) + rest;
    }
    case 'suffix':
      return path + pick(SUFFIXES, m.variant) + rest;
    case 'prefix':
      return pick(PREFIXES, m.variant) + path + rest;
    case 'unicode': {
      const look = lookalike(c);
      const variants = [
        look !== undefined ? at(utf8Latin1(look)) : undefined,
        look !== undefined ? at(pctUtf8(look, upper)) : undefined,
        c === 's' ? at(utf8Latin1('ſ')) : c === 'i' ? at(utf8Latin1('ı')) : undefined,
        at(`${c}\x80`),
        at(`${c}\xc3\xa9`),
        at(`${c}%c3%a9`),
        at(`${c}%ff`),
      ].filter((v): v is string => v !== undefined);
      return pick(variants, m.variant);
    }
    case 'colon': {
      const colon = path.lastIndexOf(':');
      if (colon < 0) return path + pick(COLONS, m.variant) + rest;
      return path.slice(0, colon) + pick(COLONS, m.variant) + path.slice(colon + 1) + rest;
    }
    case 'long':
      return m.variant % 2 === 0 ? `${path}/${'a'.repeat(200 + (m.at % 5000))}${rest}` : `${path}${rest}${rest ? '&' : '?'}pad=${'b'.repeat(200 + (m.at % 5000))}`;
  }
}

/** Whether a target has anything a URL parser could refuse (so a 400 for it is no sign of a route). */
export function mayBeMalformed(target: string): boolean {
  return /[%\\\x00-\x20\x7f-\xff]/.test(target) || !target.startsWith('/') || target.startsWith('//');
}
