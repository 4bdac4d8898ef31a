/**
 * Hostile multipart/form-data on images/edits (contract §6, §11; issue #10): missing and wrong
 * boundaries, unterminated and truncated forms, huge fields, too many parts, files without a
 * type or that are not images, and forms whose parts together pass server.bodyLimitBytes (413
 * in OpenAI's shape, like any other body over the limit). Then a seeded fuzz of byte-level
 * damage to a well-formed form.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { TENANT_KEY } from '../support/gateway-harness.js';
import { chunked, type RequestSpec } from '../support/hostile-http.js';
import { formBody, formMutationArb, JPEG, model, mutateForm, pngFile, PNG, prompt, TEXT_FILE, type Part } from '../support/hostile-multipart.js';
import { BODY_LIMIT, describeFailure, EDITS_MODEL, failIfAny, fuzz, HostileSuite, type Expectation } from '../support/hostile-oracle.js';

const EDITS_PATHS = ['/v1/images/edits', '/v1beta/openai/images/edits'] as const;
const B = 'nanogateBoundary7MA4YWxkTrZu0gW';
const formType = (boundary = B) => `multipart/form-data; boundary=${boundary}`;

/** `contentType` null sends no Content-Type header. */
function edits(path: string, body: Buffer, contentType: string | null = formType(), framing: 'length' | 'chunked' = 'length'): RequestSpec {
  const headers: Array<[string, string]> = [['Authorization', `Bearer ${TENANT_KEY}`]];
  if (contentType !== null) headers.push(['Content-Type', contentType]);
  if (framing === 'chunked') {
    headers.push(['Transfer-Encoding', 'chunked']);
    return { method: 'POST', target: path, headers, body: chunked(body, 32_768) };
  }
  return { method: 'POST', target: path, headers, body };
}

/** A PNG (valid signature, padded with a private chunk's worth of bytes) of about `bytes`. */
const bigPng = (bytes: number) => Buffer.concat([PNG, Buffer.alloc(Math.max(0, bytes - PNG.length), 0x41)]);

const refused = (statuses: number[]): Expectation => ({ face: 'openai', statuses, upstream: 'none' });
const accepted: Expectation = { face: 'openai', statuses: [200], upstream: 'allowed' };
const judged: Expectation = { face: 'openai', statuses: [200, 400], upstream: 'allowed' };

const base = (...more: Part[]): Part[] => [prompt(), model(EDITS_MODEL), pngFile(), ...more];

interface Row {
  label: string;
  body: Buffer;
  /** null: no Content-Type header; absent: the form's own. */
  contentType?: string | null;
  framing?: 'length' | 'chunked';
  exp: Expectation;
}

const ROWS: Row[] = [
  { label: 'a well-formed edit (baseline)', body: formBody(B, base()), exp: accepted },
  { label: 'a PNG file without Content-Type is sniffed and accepted', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', null)]), exp: accepted },
  { label: 'a PNG file sent as application/octet-stream is sniffed and accepted', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', 'application/octet-stream')]), exp: accepted },
  { label: 'a JPEG file without Content-Type is sniffed and accepted', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', null, JPEG)]), exp: accepted },
  { label: 'image[] (the SDK array form) is accepted', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image[]'), pngFile('image[]')]), exp: accepted },
  { label: 'a text file declared text/plain', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', 'text/plain', TEXT_FILE)]), exp: refused([400]) },
  { label: 'a text file without Content-Type', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', null, TEXT_FILE)]), exp: refused([400]) },
  { label: 'a text file as application/octet-stream', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', 'application/octet-stream', TEXT_FILE)]), exp: refused([400]) },
  { label: 'an SVG', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', 'image/svg+xml', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))]), exp: refused([400]) },
  { label: 'a GIF (not a Gemini input type)', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', 'image/gif', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'))]), exp: refused([400]) },
  { label: 'an empty image file', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', 'image/png', Buffer.alloc(0))]), exp: refused([400]) },
  { label: 'declared image/png, text bytes (Google judges the bytes)', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', 'image/png', TEXT_FILE)]), exp: judged },
  { label: 'no boundary parameter', body: formBody(B, base()), contentType: 'multipart/form-data', exp: refused([400, 415]) },
  { label: 'an empty boundary parameter', body: formBody(B, base()), contentType: 'multipart/form-data; boundary=', exp: refused([400, 415]) },
  { label: 'a boundary the body does not use', body: formBody(B, base()), contentType: formType('someOtherBoundary'), exp: refused([400]) },
  { label: 'no closing boundary', body: formBody(B, base(), { unterminated: true }), exp: refused([400]) },
  { label: 'cut off inside the image data', body: formBody(B, base()).subarray(0, formBody(B, base()).indexOf(PNG) + 20), exp: refused([400]) },
  { label: 'cut off inside a part header', body: formBody(B, base()).subarray(0, formBody(B, base()).indexOf('Content-Type: image/png') + 10), exp: refused([400]) },
  { label: 'an empty body', body: Buffer.alloc(0), exp: refused([400]) },
  { label: 'only the closing boundary', body: Buffer.from(`--${B}--\r\n`), exp: refused([400]) },
  { label: 'a 200 KB prompt (under the limit)', body: formBody(B, [prompt('p'.repeat(200_000)), model(EDITS_MODEL), pngFile()]), exp: { ...judged, statuses: [200, 400, 413] } },
  { label: 'a prompt over the body limit', body: formBody(B, [prompt('p'.repeat(BODY_LIMIT + 10)), model(EDITS_MODEL), pngFile()]), exp: refused([413]) },
  { label: 'one image just over the body limit', body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image', 'image/png', bigPng(BODY_LIMIT + 1))]), exp: refused([413]) },
  {
    label: 'three images of 100 KB (together over the limit)',
    body: formBody(B, [prompt(), model(EDITS_MODEL), ...[1, 2, 3].map(() => pngFile('image[]', 'image/png', bigPng(100_000)))]),
    exp: refused([413]),
  },
  {
    label: 'five images of 60 KB (together over the limit)',
    body: formBody(B, [prompt(), model(EDITS_MODEL), ...[1, 2, 3, 4, 5].map(() => pngFile('image[]', 'image/png', bigPng(60_000)))]),
    exp: refused([413]),
  },
  {
    label: 'three images of 100 KB, chunked (no Content-Length)',
    body: formBody(B, [prompt(), model(EDITS_MODEL), ...[1, 2, 3].map(() => pngFile('image[]', 'image/png', bigPng(100_000)))]),
    framing: 'chunked',
    exp: refused([413]),
  },
  {
    label: 'a 120 KB prompt and two 80 KB images (together over the limit)',
    body: formBody(B, [prompt('p'.repeat(120_000)), model(EDITS_MODEL), pngFile('image[]', 'image/png', bigPng(80_000)), pngFile('image[]', 'image/png', bigPng(80_000))]),
    exp: refused([413]),
  },
  {
    label: 'two images of 100 KB (together under the limit)',
    body: formBody(B, [prompt(), model(EDITS_MODEL), pngFile('image[]', 'image/png', bigPng(100_000)), pngFile('image[]', 'image/png', bigPng(100_000))]),
    exp: accepted,
  },
  { label: '100 text fields', body: formBody(B, [...base(), ...Array.from({ length: 100 }, (_, i) => ({ name: `f${i}`, data: 'v' }))]), exp: refused([400, 413]) },
  { label: '1000 text fields', body: formBody(B, [...base(), ...Array.from({ length: 1000 }, (_, i) => ({ name: `f${i}`, data: 'v' }))]), exp: refused([400, 413]) },
  { label: '16 image files (over the files limit)', body: formBody(B, [prompt(), model(EDITS_MODEL), ...Array.from({ length: 16 }, () => pngFile('image[]'))]), exp: refused([400, 413]) },
  { label: '15 image files (over 14 reference images)', body: formBody(B, [prompt(), model(EDITS_MODEL), ...Array.from({ length: 15 }, () => pngFile('image[]'))]), exp: refused([400, 413]) },
  { label: '200 empty-named parts', body: formBody(B, [...base(), ...Array.from({ length: 200 }, () => ({ name: '', data: '' }))]), exp: refused([400, 413]) },
  { label: 'a mask file', body: formBody(B, base(pngFile('mask'))), exp: refused([400]) },
  { label: 'an unknown file field', body: formBody(B, base(pngFile('photo'))), exp: refused([400]) },
  { label: 'the prompt sent as a file', body: formBody(B, [{ name: 'prompt', filename: 'p.txt', contentType: 'text/plain', data: 'make it blue' }, model(EDITS_MODEL), pngFile()]), exp: refused([400]) },
  { label: 'an image part without Content-Disposition', body: formBody(B, [prompt(), model(EDITS_MODEL), { ...pngFile(), disposition: '' }]), exp: refused([400]) },
  { label: 'an image part whose Content-Disposition has no name', body: formBody(B, [prompt(), model(EDITS_MODEL), { ...pngFile(), disposition: 'Content-Disposition: form-data; filename="a.png"' }]), exp: refused([400]) },
  { label: 'a path-traversal filename', body: formBody(B, [prompt(), model(EDITS_MODEL), { ...pngFile(), filename: '../../../../etc/passwd' }]), exp: accepted },
  { label: 'a filename with CR LF and quotes', body: formBody(B, [prompt(), model(EDITS_MODEL), { ...pngFile(), disposition: 'Content-Disposition: form-data; name="image"; filename="a\\"b\rX-Injected: 1.png"' }]), exp: { ...judged, statuses: [200, 400] } },
  { label: 'a 100 KB part header line', body: formBody(B, [prompt(), model(EDITS_MODEL), { ...pngFile(), extraHeaders: [`X-Pad: ${'h'.repeat(100_000)}`] }]), exp: { ...judged, statuses: [200, 400, 413, 431] } },
  { label: 'bare-LF framing', body: formBody(B, base(), { eol: '\n' }), exp: { ...judged, statuses: [200, 400] } },
  { label: 'a preamble and an epilogue', body: formBody(B, base(), { preamble: 'This is a preamble.', epilogue: 'This is an epilogue.\r\n' }), exp: accepted },
  { label: 'n=abc', body: formBody(B, base({ name: 'n', data: 'abc' })), exp: refused([400]) },
  { label: 'n=11', body: formBody(B, base({ name: 'n', data: '11' })), exp: refused([400]) },
  { label: 'n=0', body: formBody(B, base({ name: 'n', data: '0' })), exp: refused([400]) },
  { label: 'n=1e1', body: formBody(B, base({ name: 'n', data: '1e1' })), exp: refused([400]) },
  { label: 'no prompt', body: formBody(B, [model(EDITS_MODEL), pngFile()]), exp: refused([400]) },
  { label: 'no image', body: formBody(B, [prompt(), model(EDITS_MODEL)]), exp: refused([400]) },
  { label: 'an unknown model', body: formBody(B, [prompt(), model('dall-e-2'), pngFile()]), exp: refused([404]) },
  { label: 'a model name with NUL', body: formBody(B, [prompt(), model('nano-banana-2\u0000'), pngFile()]), exp: refused([400, 404]) },
  // stream=true is served (#14.3); a value that is no boolean is not.
  { label: 'stream=maybe', body: formBody(B, base({ name: 'stream', data: 'maybe' })), exp: refused([400]) },
  { label: 'two prompt fields', body: formBody(B, [prompt('a'), prompt('b'), model(EDITS_MODEL), pngFile()]), exp: judged },
  { label: 'a 70-character boundary (the RFC 2046 maximum)', body: formBody('b'.repeat(70), base()), contentType: formType('b'.repeat(70)), exp: accepted },
  { label: 'a quoted boundary with a space', body: formBody('quoted boundary', base()), contentType: 'multipart/form-data; boundary="quoted boundary"', exp: accepted },
  { label: 'a 2000-character boundary', body: formBody('b'.repeat(2000), base()), contentType: formType('b'.repeat(2000)), exp: { ...judged, statuses: [200, 400] } },
  { label: 'a JSON body', body: Buffer.from('{"prompt":"x","image":"aGk="}'), contentType: 'application/json', exp: refused([400, 415]) },
  { label: 'no Content-Type at all', body: formBody(B, base()), contentType: null, exp: refused([400, 415]) },
  { label: 'multipart/mixed', body: formBody(B, base()), contentType: `multipart/mixed; boundary=${B}`, exp: refused([400, 415]) },
];

let suite: HostileSuite;

beforeAll(async () => {
  suite = await HostileSuite.start({ name: 'multipart', addressBlock: 12 });
});
afterAll(async () => {
  await suite?.close();
});
afterEach(async () => {
  failIfAny(await suite.afterBatch());
});

describe('hostile multipart on images/edits', () => {
  for (const row of ROWS) {
    it(`${row.label}: ${row.exp.statuses?.join(' or ')}`, async () => {
      const failures: string[] = [];
      for (const path of EDITS_PATHS) {
        const contentType = row.contentType === undefined ? formType() : row.contentType;
        const outcome = await suite.send(edits(path, row.body, contentType, row.framing ?? 'length'));
        const problems = suite.check(outcome, row.exp);
        if (outcome.res.status === 200 && outcome.forwarded.length === 0) problems.push('answered 200 without calling Google');
        if (problems.length > 0) failures.push(describeFailure(`${path}: ${row.label}`, outcome, problems));
      }
      failIfAny(failures);
    });
  }

  it('refuses a form posted to images/generations (JSON only) with 415 or 400', async () => {
    const failures: string[] = [];
    for (const path of ['/v1/images/generations', '/v1beta/openai/images/generations']) {
      failures.push(...(await suite.probe(path, edits(path, formBody(B, base())), refused([400, 415]))));
    }
    failIfAny(failures);
  });

  it('answers byte-level damage to a well-formed form without a 5xx, in OpenAI\'s shape', async () => {
    const good = formBody(B, [prompt(), model(EDITS_MODEL), pngFile(), { name: 'size', data: '1K' }]);
    await fuzz(fc.tuple(fc.constantFrom(...EDITS_PATHS), formMutationArb()), { seed: 0x6d50_0001, numRuns: 600 }, async ([path, m]) => {
      const body = mutateForm(good, B, m);
      return suite.probe(`${path}: ${JSON.stringify(m)}`, edits(path, body), { face: 'openai', statuses: [200, 400, 404, 413, 415], upstream: 'allowed' });
    });
  });

  it('answers randomly composed forms without a 5xx, in OpenAI\'s shape', async () => {
    const partArb: fc.Arbitrary<Part> = fc.record({
      name: fc.constantFrom('image', 'image[]', 'image[0]', 'prompt', 'model', 'n', 'size', 'quality', 'mask', 'user', 'x'),
      file: fc.boolean(),
      contentType: fc.constantFrom(undefined, 'image/png', 'image/jpeg', 'text/plain', 'application/octet-stream', 'image/png; charset=binary', ''),
      data: fc.constantFrom<Buffer | string>(PNG, JPEG, TEXT_FILE, '', 'make it blue', EDITS_MODEL, '2', '1K', '\u0000', '\ud800', Buffer.from([0xc0, 0xaf])),
    }).map(({ name, file, contentType, data }) => ({ name, ...(file ? { filename: 'f.bin' } : {}), ...(contentType !== undefined ? { contentType } : {}), data }));
    await fuzz(fc.tuple(fc.constantFrom(...EDITS_PATHS), fc.array(partArb, { maxLength: 20 })), { seed: 0x6d50_0002, numRuns: 400 }, async ([path, parts]) =>
      suite.probe(`${path}: ${parts.length} parts`, edits(path, formBody(B, parts)), { face: 'openai', statuses: [200, 400, 404, 413], upstream: 'allowed' }),
    );
  });
});
