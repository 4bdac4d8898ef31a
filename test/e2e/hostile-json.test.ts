/**
 * Hostile JSON bodies on the native face (generateContent, streamGenerateContent,
 * countTokens) and on images/generations (contract §5, §6, §11; issue #10): malformed,
 * truncated, wrongly typed, deeply nested, Unicode-edge and oversized bodies, over a raw
 * socket so every byte arrives as written. Each case must get a non-5xx answer in the route's
 * error shape, without leaking keys or internals, and a body the gateway refuses must not reach
 * Google. Seeds are fixed: a failure reproduces with the same seed and path.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { TENANT_KEY } from '../support/gateway-harness.js';
import { chunked, type RequestSpec } from '../support/hostile-http.js';
import {
  buildDeep,
  buildMalformed,
  buildUnicode,
  deepArb,
  GENERATIONS_TEMPLATES,
  generationsExpectation,
  goodNativeBody,
  JSON_CONTENT_TYPES,
  malformedBody,
  NATIVE_TEMPLATES,
  nativeExpectation,
  unicodeArb,
  wronglyTypedGenerations,
  wronglyTypedNative,
  type NativeAction,
} from '../support/hostile-json.js';
import type { Fault } from '../mock-google/server.js';
import { BODY_LIMIT, describeFailure, failIfAny, fuzz, HostileSuite, NATIVE_MODEL, type Expectation } from '../support/hostile-oracle.js';

interface NativeTarget {
  path: string;
  action: NativeAction;
}

const NATIVE_TARGETS: readonly NativeTarget[] = [
  { path: `/v1beta/models/${NATIVE_MODEL}:generateContent`, action: 'generateContent' },
  { path: `/v1beta/models/${NATIVE_MODEL}:streamGenerateContent?alt=sse`, action: 'streamGenerateContent' },
  { path: `/v1beta/models/${NATIVE_MODEL}:streamGenerateContent`, action: 'streamGenerateContent' },
  { path: `/v1beta/models/${NATIVE_MODEL}:countTokens`, action: 'countTokens' },
  { path: `/v1/models/${NATIVE_MODEL}:generateContent`, action: 'generateContent' },
  { path: `/v1/models/${NATIVE_MODEL}:streamGenerateContent?alt=sse`, action: 'streamGenerateContent' },
  { path: `/v1/models/${NATIVE_MODEL}:countTokens`, action: 'countTokens' },
];
const GENERATIONS_PATHS = ['/v1/images/generations', '/v1beta/openai/images/generations'] as const;

type Framing = { kind: 'length' } | { kind: 'chunked'; chunkBytes: number };
const framingArb: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Framing>({ kind: 'length' }) },
  { weight: 1, arbitrary: fc.constantFrom(1, 7, 1024, 65_536).map((chunkBytes): Framing => ({ kind: 'chunked', chunkBytes })) },
);

function post(path: string, body: Buffer, auth: readonly [string, string], framing: Framing = { kind: 'length' }, contentType = 'application/json'): RequestSpec {
  const headers: Array<[string, string]> = [[auth[0], auth[1]]];
  if (contentType !== '') headers.push(['Content-Type', contentType]);
  if (framing.kind === 'chunked') {
    headers.push(['Transfer-Encoding', 'chunked']);
    return { method: 'POST', target: path, headers, body: chunked(body, framing.chunkBytes) };
  }
  return { method: 'POST', target: path, headers, body };
}

const nativeAuth = ['x-goog-api-key', TENANT_KEY] as const;
const openaiAuth = ['Authorization', `Bearer ${TENANT_KEY}`] as const;

let suite: HostileSuite;

beforeAll(async () => {
  suite = await HostileSuite.start({ name: 'json', addressBlock: 11 });
});
afterAll(async () => {
  await suite?.close();
});
afterEach(async () => {
  failIfAny(await suite.afterBatch());
});

const nativeTarget = fc.constantFrom(...NATIVE_TARGETS);
const generationsPath = fc.constantFrom(...GENERATIONS_PATHS);

describe('hostile JSON on the native face', () => {
  it('refuses malformed and truncated JSON with 400 INVALID_ARGUMENT, sending nothing to Google', async () => {
    await fuzz(fc.tuple(nativeTarget, malformedBody(NATIVE_TEMPLATES), framingArb), { seed: 0x6a50_0001, numRuns: 500 }, async ([t, d, framing]) => {
      const c = buildMalformed(NATIVE_TEMPLATES, d);
      return suite.probe(`${t.path}: ${c.label}`, post(t.path, c.body, nativeAuth, framing), nativeExpectation(c.body, t.action));
    });
  });

  it('refuses wrongly typed requests itself and forwards the rest unchanged', async () => {
    await fuzz(fc.tuple(nativeTarget, wronglyTypedNative()), { seed: 0x6a50_0002, numRuns: 400 }, async ([t, value]) => {
      const body = Buffer.from(JSON.stringify(value), 'utf8');
      return suite.probe(`${t.path}: ${JSON.stringify(value)}`, post(t.path, body, nativeAuth), nativeExpectation(body, t.action));
    });
  });

  it('answers deeply nested bodies (up to 100k levels) without a 5xx', async () => {
    const places = ['body', 'contents', 'parts', 'text', 'unknownField', 'generationConfig'] as const;
    await fuzz(fc.tuple(nativeTarget, deepArb(places)), { seed: 0x6a50_0003, numRuns: 120 }, async ([t, d]) => {
      const c = buildDeep(d, BODY_LIMIT);
      return suite.probe(`${t.path}: ${c.label}`, post(t.path, c.body, nativeAuth), nativeExpectation(c.body, t.action));
    });
  });

  it('answers Unicode edge cases (lone surrogates, NUL, BOM, overlong UTF-8) without a 5xx, forwarding accepted bodies byte for byte', async () => {
    const places = ['start', 'end', 'inString', 'inKey', 'betweenTokens', 'inModel'] as const;
    await fuzz(fc.tuple(nativeTarget, unicodeArb(places)), { seed: 0x6a50_0004, numRuns: 400 }, async ([t, d]) => {
      const c = buildUnicode('native', d);
      return suite.probe(`${t.path}: ${c.label}`, post(t.path, c.body, nativeAuth), nativeExpectation(c.body, t.action));
    });
  });

  it('answers any content type without a 5xx: JSON is judged by its bytes, other types may be 415', async () => {
    const bodies = [goodNativeBody(), '{"contents":', 'contents=x', ''];
    await fuzz(
      fc.tuple(nativeTarget, fc.constantFrom(...JSON_CONTENT_TYPES), fc.constantFrom(...bodies)),
      { seed: 0x6a50_0005, numRuns: 150 },
      async ([t, contentType, text]) => {
        const body = Buffer.from(text);
        const exp = nativeExpectation(body, t.action);
        const allowed: Expectation = { ...exp, statuses: [...(exp.statuses ?? []), 415], upstream: exp.upstream };
        return suite.probe(`${t.path} as ${JSON.stringify(contentType)}: ${text}`, post(t.path, body, nativeAuth, { kind: 'length' }, contentType), allowed);
      },
    );
  });
});

describe('noise', () => {
  it('answers random bytes and random JSON values on every JSON route without a 5xx, refusing what it must', async () => {
    const routes = [
      ...NATIVE_TARGETS.map((t) => ({ path: t.path, auth: nativeAuth, expect: (b: Buffer) => nativeExpectation(b, t.action) })),
      ...GENERATIONS_PATHS.map((path) => ({ path, auth: openaiAuth, expect: generationsExpectation })),
    ];
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 2_000 }).map((a) => Buffer.from(a)),
      fc.json({ maxDepth: 6 }).map((j) => Buffer.from(j)),
      fc.record({ contents: fc.jsonValue({ maxDepth: 5 }), generationConfig: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: ['contents'] }).map((v) => Buffer.from(JSON.stringify(v))),
      fc.record({ prompt: fc.jsonValue({ maxDepth: 2 }), n: fc.jsonValue({ maxDepth: 1 }), model: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }).map((v) => Buffer.from(JSON.stringify(v))),
    );
    await fuzz(fc.tuple(fc.nat({ max: routes.length - 1 }), body), { seed: 0x6a50_0021, numRuns: 600 }, async ([r, b]) => {
      const route = routes[r]!;
      return suite.probe(`${route.path}: ${b.length} bytes`, post(route.path, b, route.auth), route.expect(b));
    });
  });
});

describe('hostile JSON on images/generations', () => {
  it("refuses malformed and truncated JSON with 400 in OpenAI's shape, sending nothing to Google", async () => {
    await fuzz(fc.tuple(generationsPath, malformedBody(GENERATIONS_TEMPLATES), framingArb), { seed: 0x6a50_0011, numRuns: 400 }, async ([path, d, framing]) => {
      const c = buildMalformed(GENERATIONS_TEMPLATES, d);
      return suite.probe(`${path}: ${c.label}`, post(path, c.body, openaiAuth, framing), generationsExpectation(c.body));
    });
  });

  it('refuses wrongly typed fields (prompt, model, n, user, stream, response_format) before anything reaches Google', async () => {
    await fuzz(fc.tuple(generationsPath, wronglyTypedGenerations()), { seed: 0x6a50_0012, numRuns: 400 }, async ([path, value]) => {
      const body = Buffer.from(JSON.stringify(value), 'utf8');
      return suite.probe(`${path}: ${JSON.stringify(value)}`, post(path, body, openaiAuth), generationsExpectation(body));
    });
  });

  it('answers deeply nested bodies without a 5xx', async () => {
    await fuzz(fc.tuple(generationsPath, deepArb(['body', 'prompt', 'model', 'extra'])), { seed: 0x6a50_0013, numRuns: 80 }, async ([path, d]) => {
      const c = buildDeep(d, BODY_LIMIT);
      return suite.probe(`${path}: ${c.label}`, post(path, c.body, openaiAuth), generationsExpectation(c.body));
    });
  });

  it('answers Unicode edge cases without a 5xx', async () => {
    const places = ['start', 'end', 'inString', 'inKey', 'betweenTokens', 'inModel'] as const;
    await fuzz(fc.tuple(generationsPath, unicodeArb(places)), { seed: 0x6a50_0014, numRuns: 300 }, async ([path, d]) => {
      const c = buildUnicode('openai', d);
      return suite.probe(`${path}: ${c.label}`, post(path, c.body, openaiAuth), generationsExpectation(c.body));
    });
  });

  it('answers non-JSON content types with 415 (or 400) in OpenAI\'s shape, sending nothing to Google', async () => {
    const failures: string[] = [];
    for (const path of GENERATIONS_PATHS) {
      for (const contentType of JSON_CONTENT_TYPES) {
        const body = Buffer.from(GENERATIONS_TEMPLATES[0]!);
        // application/json with any parameters may be read as JSON (the bytes are UTF-8 JSON) or refused.
        const json = /^application\/json\b/i.test(contentType);
        const judged = generationsExpectation(body);
        const exp: Expectation = json ? { ...judged, statuses: [...(judged.statuses ?? []), 415] } : { face: 'openai', statuses: [400, 415], upstream: 'none' };
        failures.push(...(await suite.probe(`${path} as ${JSON.stringify(contentType)}`, post(path, body, openaiAuth, { kind: 'length' }, contentType), exp)));
      }
    }
    failIfAny(failures);
  });
});

describe('bodies at and just over server.bodyLimitBytes', () => {
  /** A valid body of exactly `bytes` bytes: the prompt is padded. */
  const padded = (bytes: number, face: 'native' | 'openai') => {
    const shell = face === 'native' ? goodNativeBody('') : '{"prompt":"","model":"nano-banana"}';
    const at = shell.indexOf('""') + 1;
    return Buffer.from(shell.slice(0, at) + 'x'.repeat(bytes - shell.length) + shell.slice(at));
  };
  const targets = [
    ...NATIVE_TARGETS.map((t) => ({ path: t.path, face: 'native' as const, auth: nativeAuth })),
    ...GENERATIONS_PATHS.map((path) => ({ path, face: 'openai' as const, auth: openaiAuth })),
  ];

  it('answers 413 in the route\'s shape to a body over the limit, by Content-Length or chunked, and sends nothing to Google', async () => {
    const failures: string[] = [];
    for (const t of targets) {
      const face = t.face === 'native' ? 'google' : 'openai';
      for (const bytes of [BODY_LIMIT + 1, BODY_LIMIT + 100, BODY_LIMIT + 4096, 2 * BODY_LIMIT]) {
        for (const framing of [{ kind: 'length' }, { kind: 'chunked', chunkBytes: 16_384 }] as const) {
          const body = padded(bytes, t.face);
          failures.push(...(await suite.probe(`${t.path}: ${bytes} bytes, ${framing.kind}`, post(t.path, body, t.auth, framing), { face, statuses: [413], upstream: 'none' })));
        }
      }
    }
    failIfAny(failures);
  });

  it('answers 413 at once to a Content-Length over the limit, without waiting for the body', async () => {
    const failures: string[] = [];
    for (const t of targets) {
      const face = t.face === 'native' ? 'google' : 'openai';
      for (const declared of [BODY_LIMIT + 1, 10 * 1024 * 1024, 2 ** 40]) {
        const spec: RequestSpec = { method: 'POST', target: t.path, headers: [[t.auth[0], t.auth[1]], ['Content-Type', 'application/json'], ['Content-Length', String(declared)]], body: '{"contents":[' };
        failures.push(...(await suite.probe(`${t.path}: Content-Length ${declared}, 13 bytes sent`, spec, { face, statuses: [413], upstream: 'none' }, { timeoutMs: 2_000 })));
      }
    }
    failIfAny(failures);
  });

  it('accepts a valid body of exactly the limit', async () => {
    const failures: string[] = [];
    for (const t of targets) {
      const body = padded(BODY_LIMIT, t.face);
      const exp = t.face === 'native' ? nativeExpectation(body, NATIVE_TARGETS.find((n) => n.path === t.path)!.action) : generationsExpectation(body);
      failures.push(...(await suite.probe(`${t.path}: exactly ${BODY_LIMIT} bytes`, post(t.path, body, t.auth), { ...exp, statuses: [200] })));
    }
    failIfAny(failures);
  });
});

describe('scripted upstream failures', () => {
  // The only place a 5xx is allowed: Google failed. The answer is still in the route's shape
  // (Google's own envelope relayed natively; the OpenAI face's, with Google's reason, there),
  // with no key and nothing of the gateway's insides in it.
  const FAULTS: ReadonlyArray<[label: string, fault: Fault]> = [
    ['Google 500 INTERNAL', { kind: 'internal' }],
    ['Google 503 UNAVAILABLE', { kind: 'unavailable' }],
    ['Google 504 DEADLINE_EXCEEDED', { kind: 'deadline' }],
    ['connection dropped', { kind: 'drop' }],
    ['Google 400 with an unknown reason', { kind: 'status', status: 400, body: { error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } } }],
    ['Google 502 HTML page', { kind: 'status', status: 502, body: '<!DOCTYPE html><html><title>Error 502 (Server Error)!!1</title></html>' }],
    ['Google 500 with a non-JSON body', { kind: 'status', status: 500, body: 'upstream connect error or disconnect/reset before headers' }],
    ['an answer cut off mid-body', { kind: 'breakOff', afterBytes: 40 }],
  ];
  const targets = [
    { label: 'native generateContent', face: 'google' as const, spec: () => post(NATIVE_TARGETS[0]!.path, Buffer.from(goodNativeBody()), nativeAuth) },
    { label: 'images/generations', face: 'openai' as const, spec: () => post(GENERATIONS_PATHS[0], Buffer.from(GENERATIONS_TEMPLATES[0]!), openaiAuth) },
    { label: 'openai-compat images/generations', face: 'openai' as const, spec: () => post(GENERATIONS_PATHS[1], Buffer.from(GENERATIONS_TEMPLATES[0]!), openaiAuth) },
  ];

  it("answers Google's failures with a 4xx/5xx in the route's shape, never a 500 of the gateway's own", async () => {
    const failures: string[] = [];
    for (const t of targets) {
      for (const [label, fault] of FAULTS) {
        // A native answer that breaks off after its headers can only end the connection early.
        if (t.face === 'google' && (fault.kind === 'breakOff' || (fault.kind === 'status' && typeof fault.body === 'string'))) continue;
        // With retries: 0 each fault is consumed by exactly one call.
        suite.mock.enqueue(fault);
        const outcome = await suite.send(t.spec());
        const problems = suite.check(outcome, { face: t.face, statuses: [400, 500, 502, 503, 504], upstream: 'allowed', upstreamFailure: true });
        if (t.face === 'openai' && outcome.res.status === 500) problems.push('the OpenAI face answered 500 (its own internal error) for a failure of Google\'s: 502/503/504 expected');
        if (problems.length) failures.push(describeFailure(`${t.label}: ${label}`, outcome, problems));
      }
    }
    failIfAny(failures, 24);
  });
});
