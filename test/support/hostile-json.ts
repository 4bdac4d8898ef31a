/**
 * Hostile JSON bodies for the native face and images/generations, each with the outcome the
 * contract allows for it. The oracle is JSON.parse plus the contract's type rules: what the
 * gateway must refuse itself (400, nothing sent to Google) and what is Google's to judge
 * (forwarded as sent, so 200 or Google's 400).
 */
import fc from 'fast-check';
import type { Expectation } from './hostile-oracle.js';

export type NativeAction = 'generateContent' | 'streamGenerateContent' | 'countTokens';

const GOOD_TEXT = 'a banana on a beach';
export const goodNativeBody = (text = GOOD_TEXT) => `{"contents":[{"parts":[{"text":${JSON.stringify(text)}}]}]}`;
export const goodGenerationsBody = (prompt = GOOD_TEXT) => `{"prompt":${JSON.stringify(prompt)},"model":"nano-banana","n":1}`;

type Parsed = { kind: 'invalid' } | { kind: 'bom'; value: unknown } | { kind: 'valid'; value: unknown; badUtf8: boolean };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** What a strict JSON reader makes of the bytes. */
export function readJson(body: Buffer): Parsed {
  let text: string;
  let badUtf8 = false;
  try {
    text = utf8.decode(body);
  } catch {
    badUtf8 = true;
    text = body.toString('utf8');
  }
  try {
    return { kind: 'valid', value: JSON.parse(text), badUtf8 };
  } catch {
    if (text.charCodeAt(0) === 0xfeff) {
      try {
        return { kind: 'bom', value: JSON.parse(text.slice(1)) };
      } catch {
        return { kind: 'invalid' };
      }
    }
    return { kind: 'invalid' };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: Record<string, unknown>, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/**
 * The native face's own checks (contract §5: types only, values are Google's to judge): a body
 * that is not an object with a non-empty `contents` list of Content objects, or whose known
 * containers have the wrong JSON type, is refused by the gateway. `null` stays ambiguous (proto
 * JSON reads it as absent), so it is allowed either way.
 */
function nativeTypeError(value: unknown): boolean {
  if (!isObject(value)) return true;
  const contents = value['contents'];
  if (!Array.isArray(contents) || contents.length === 0) return true;
  for (const c of contents) {
    if (!isObject(c)) return true;
    if (has(c, 'parts') && c['parts'] !== null && !Array.isArray(c['parts'])) return true;
  }
  const gc = value['generationConfig'];
  if (gc === undefined || gc === null) return false;
  if (!isObject(gc)) return true;
  const ic = gc['imageConfig'];
  if (ic === undefined || ic === null) return false;
  if (!isObject(ic)) return true;
  for (const f of ['imageSize', 'aspectRatio']) if (ic[f] !== undefined && ic[f] !== null && typeof ic[f] !== 'string') return true;
  return false;
}

export function nativeExpectation(body: Buffer, action: NativeAction): Expectation {
  const refused: Expectation = { face: 'google', statuses: [400], upstream: 'none' };
  const judged: Expectation = { face: 'google', statuses: [200, 400], upstream: 'allowed', forwardedBody: body };
  if (body.length === 0) return refused;
  const parsed = readJson(body);
  if (parsed.kind === 'invalid') return refused;
  if (parsed.kind === 'bom') return judged;
  if (action === 'countTokens') return judged;
  if (parsed.badUtf8) return judged;
  return nativeTypeError(parsed.value) ? refused : judged;
}

/** Every name the gateway routes (config/models.yaml): aliases, served ids, and retired ids it redirects. */
const MODELS = new Set([
  'nano-banana',
  'nano-banana-2',
  'nano-banana-2.1',
  'nano-banana-2-lite',
  'nano-banana-pro',
  'nano-banana-pro-preview',
  'gemini-3-pro-image',
  'gemini-nano-banana-2.1',
  'gemini-3.1-flash-lite-image',
  'gemini-3.1-flash-image',
  'gemini-2.5-flash-image',
  'gemini-2.5-flash-image-preview',
  'gemini-3-pro-image-preview',
  'gemini-3.1-flash-image-preview',
]);

/** images/generations (contract §6): which fields the gateway must refuse itself. */
export function generationsExpectation(body: Buffer): Expectation {
  const refused: Expectation = { face: 'openai', statuses: [400], upstream: 'none' };
  const judged: Expectation = { face: 'openai', statuses: [200, 400], upstream: 'allowed' };
  if (body.length === 0) return refused;
  const parsed = readJson(body);
  if (parsed.kind === 'invalid') return refused;
  if (parsed.kind === 'bom') return { face: 'openai', statuses: [200, 400, 404], upstream: 'allowed' };
  const v = parsed.value;
  if (!isObject(v)) return refused;
  // Prototype-poisoning keys: a framework may refuse them outright; either way, nothing odd.
  if (/"(__proto__|constructor|prototype)"\s*:/.test(body.toString('latin1'))) return { face: 'openai', statuses: [200, 400, 404], upstream: 'allowed' };
  const absent = (k: string) => v[k] === undefined || v[k] === null;
  const bad: string[] = [];
  if (absent('prompt') || typeof v['prompt'] !== 'string' || v['prompt'].trim() === '') bad.push('prompt');
  if (!absent('model') && typeof v['model'] !== 'string') bad.push('model');
  if (!absent('n') && !(typeof v['n'] === 'number' && Number.isInteger(v['n']) && v['n'] >= 1 && v['n'] <= 10)) bad.push('n');
  if (!absent('user') && typeof v['user'] !== 'string') bad.push('user');
  if (!absent('stream') && v['stream'] !== false) bad.push('stream');
  if (!absent('response_format') && typeof v['response_format'] !== 'string') bad.push('response_format');
  const unknownModel = typeof v['model'] === 'string' && !MODELS.has(v['model'].toLowerCase());
  if (bad.length > 0) return { ...refused, statuses: unknownModel ? [400, 404] : [400] };
  if (unknownModel) return { face: 'openai', statuses: [400, 404], upstream: 'none' };
  return judged;
}

// ---------------------------------------------------------------------------------------------
// Generators. Each yields a small description (what fast-check prints on failure) and builds
// the bytes from it.

export interface BodyCase {
  label: string;
  body: Buffer;
}

const NATIVE_TEMPLATES = [
  goodNativeBody(),
  '{"contents":[{"role":"user","parts":[{"text":"draw"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}}]}],"generationConfig":{"responseModalities":["IMAGE"],"imageConfig":{"aspectRatio":"16:9"}}}',
  '{"contents":[{"parts":[{"text":"x"}]}],"safetySettings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}],"systemInstruction":{"parts":[{"text":"be brief"}]}}',
];
const GENERATIONS_TEMPLATES = [
  goodGenerationsBody(),
  '{"prompt":"a cat","size":"1024x1024","quality":"high","response_format":"b64_json","user":"u-1"}',
  '{"model":"nano-banana-2","prompt":"two cats","n":2,"size":"1K","aspect_ratio":"16:9"}',
];

const SYNTAX_JUNK = [
  '', ',', '}', ']', '{', '[', ':', '"', "'", '\\', ' ', '\t', '\n', 'x', 'NaN', 'Infinity', '-', '+1', '01', '0x10', '.5', '1.', '1e', 'true', 'nul',
  '/*c*/', '//c\n', ',}', ',]', '\\x41', '\\u12', '\\u', '\u0000', '\u0001', '\u001f', '\u007f', '"\n"', '{}', '[]', 'undefined', '\u00a0', '\u2028',
];

/** Syntax damage to a valid body: truncation, insertion, replacement, deletion, or trailing junk. */
export function malformedBody(templates: readonly string[]): fc.Arbitrary<{ t: number; op: 'cut' | 'insert' | 'replace' | 'delete' | 'append' | 'prepend'; at: number; junk: string; len: number }> {
  return fc.record({
    t: fc.nat({ max: templates.length - 1 }),
    op: fc.constantFrom('cut', 'insert', 'replace', 'delete', 'append', 'prepend'),
    at: fc.nat({ max: 10_000 }),
    junk: fc.constantFrom(...SYNTAX_JUNK),
    len: fc.integer({ min: 1, max: 8 }),
  });
}

export function buildMalformed(templates: readonly string[], d: { t: number; op: string; at: number; junk: string; len: number }): BodyCase {
  const base = templates[d.t]!;
  const at = d.at % base.length;
  let text: string;
  switch (d.op) {
    case 'cut':
      text = base.slice(0, at); // a strict prefix of an object is never valid JSON
      break;
    case 'insert':
      text = base.slice(0, at) + d.junk + base.slice(at);
      break;
    case 'replace':
      text = base.slice(0, at) + d.junk + base.slice(at + d.len);
      break;
    case 'delete':
      text = base.slice(0, at) + base.slice(at + d.len);
      break;
    case 'append':
      text = base + d.junk;
      break;
    default:
      text = d.junk + base;
  }
  return { label: `${d.op} ${JSON.stringify(d.junk)} at ${at} of template ${d.t}`, body: Buffer.from(text, 'utf8') };
}

/** Values of every JSON type, and some that look right but are not. */
const ODD_VALUES: readonly unknown[] = [
  null, true, false, 0, -1, 1.5, 1e308, -0, 'x', '', ' ', 'IMAGE', [], [null], [1], ['x'], [[]], {}, { text: 1 }, { parts: 'x' }, [{}], [{ parts: {} }],
  [{ parts: [{}] }], [{ parts: [1] }], [{ parts: null }], { '0': {} }, 9007199254740993, '1K', ['1K'], { imageSize: 5 },
];

const oddValue = fc.constantFrom(...ODD_VALUES);

/** A native body with known fields of wrong (or right) types, and unknown ones. */
export function wronglyTypedNative(): fc.Arbitrary<Record<string, unknown>> {
  const goodContents = [{ parts: [{ text: GOOD_TEXT }] }];
  return fc.record(
    {
      contents: fc.oneof({ weight: 2, arbitrary: fc.constant(goodContents) }, { weight: 3, arbitrary: oddValue }),
      generationConfig: fc.oneof(
        oddValue,
        fc.record({ imageConfig: fc.oneof(oddValue, fc.record({ imageSize: oddValue, aspectRatio: oddValue }, { requiredKeys: [] })) }, { requiredKeys: [] }),
        fc.record({ responseModalities: oddValue, temperature: oddValue, candidateCount: oddValue }, { requiredKeys: [] }),
      ),
      systemInstruction: oddValue,
      safetySettings: oddValue,
      tools: oddValue,
      unknownField: oddValue,
    },
    { requiredKeys: [] },
  );
}

/** An images/generations body with fields of wrong (or right) types. */
export function wronglyTypedGenerations(): fc.Arbitrary<Record<string, unknown>> {
  const some = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 2, arbitrary: good }, { weight: 3, arbitrary: oddValue });
  return fc.record(
    {
      prompt: some(fc.constantFrom('a cat', 'two dogs', '   ')),
      model: some(fc.constantFrom('nano-banana', 'NANO-BANANA', 'dall-e-3', 'models/../admin', 'nano-banana\u0000')),
      n: some(fc.constantFrom(1, 2, 0, 11, 10, 1.0, 2.5, -3, '2')),
      size: some(fc.constantFrom('1024x1024', '1K', '4K', 'auto', '0x0', '99999x1', 'x', '1024x1024x3')),
      aspect_ratio: some(fc.constantFrom('16:9', '1:1', '0:0', '-1:2', '16/9')),
      quality: some(fc.constantFrom('high', 'low', 'auto', 'hd', 'ultra')),
      response_format: some(fc.constantFrom('b64_json', 'url', 'xml')),
      user: some(fc.constantFrom('u-1', '')),
      stream: some(fc.constantFrom(false, true, 'true')),
      extra: oddValue,
    },
    { requiredKeys: [] },
  );
}

export type Nest = 'array' | 'object';
export type DeepPlace = 'body' | 'contents' | 'parts' | 'text' | 'unknownField' | 'generationConfig' | 'prompt' | 'model' | 'extra';

export interface DeepCase {
  depth: number;
  nest: Nest;
  place: DeepPlace;
  /** Closers left off: the body ends inside the nesting. */
  unclosed: boolean;
}

export function deepArb(places: readonly DeepPlace[]): fc.Arbitrary<DeepCase> {
  return fc.record({
    depth: fc.constantFrom(1_000, 5_000, 10_000, 30_000, 100_000),
    nest: fc.constantFrom<Nest>('array', 'object'),
    place: fc.constantFrom(...places),
    unclosed: fc.boolean(),
  });
}

/** `[[[…1…]]]` or `{"a":{"a":…1…}}`, `depth` levels, cut to stay under `maxBytes` with room to spare. */
function deepValue(d: DeepCase, maxBytes: number): string {
  const unit = d.nest === 'array' ? 2 : 6;
  const depth = Math.min(d.depth, Math.floor((maxBytes - 200) / unit));
  const open = d.nest === 'array' ? '['.repeat(depth) : '{"a":'.repeat(depth);
  const close = d.unclosed ? '' : (d.nest === 'array' ? ']' : '}').repeat(depth);
  return `${open}1${close}`;
}

export function buildDeep(d: DeepCase, maxBytes: number): BodyCase {
  const v = deepValue(d, maxBytes);
  const text = {
    body: v,
    contents: `{"contents":${v}}`,
    parts: `{"contents":[{"parts":${v}}]}`,
    text: `{"contents":[{"parts":[{"text":${v}}]}]}`,
    unknownField: `{"contents":[{"parts":[{"text":"x"}]}],"unknownField":${v}}`,
    generationConfig: `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":${v}}`,
    prompt: `{"prompt":${v}}`,
    model: `{"prompt":"x","model":${v}}`,
    extra: `{"prompt":"x","model":"nano-banana","extra":${v}}`,
  }[d.place];
  return { label: `${d.nest} nesting ${d.depth} deep in ${d.place}${d.unclosed ? ', unclosed' : ''}`, body: Buffer.from(text, 'latin1') };
}

/** Byte sequences at the edges of Unicode and UTF-8, as raw bytes (latin1 strings) or JSON escapes. */
export const UNICODE_EDGES: ReadonlyArray<[name: string, bytes: Buffer]> = [
  ['escaped lone high surrogate', Buffer.from('\\ud800')],
  ['escaped lone low surrogate', Buffer.from('\\udfff')],
  ['escaped reversed pair', Buffer.from('\\udc00\\ud800')],
  ['escaped NUL', Buffer.from('\\u0000')],
  ['raw NUL', Buffer.from([0x00])],
  ['raw BEL', Buffer.from([0x07])],
  ['raw DEL', Buffer.from([0x7f])],
  ['BOM', Buffer.from([0xef, 0xbb, 0xbf])],
  ['escaped BOM', Buffer.from('\\ufeff')],
  ['overlong slash (2 bytes)', Buffer.from([0xc0, 0xaf])],
  ['overlong slash (3 bytes)', Buffer.from([0xe0, 0x80, 0xaf])],
  ['overlong slash (4 bytes)', Buffer.from([0xf0, 0x80, 0x80, 0xaf])],
  ['overlong NUL', Buffer.from([0xc0, 0x80])],
  ['overlong quote', Buffer.from([0xc0, 0xa2])],
  ['UTF-8 encoded surrogate (CESU)', Buffer.from([0xed, 0xa0, 0x80])],
  ['lone continuation byte', Buffer.from([0x80])],
  ['truncated 3-byte sequence', Buffer.from([0xe2, 0x82])],
  ['byte 0xff', Buffer.from([0xff])],
  ['byte 0xfe', Buffer.from([0xfe])],
  ['5-byte lead', Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80])],
  ['above U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
  ['noncharacter U+FFFF', Buffer.from([0xef, 0xbf, 0xbf])],
  ['right-to-left override', Buffer.from('\u202e', 'utf8')],
  ['line separator', Buffer.from('\u2028', 'utf8')],
  ['emoji', Buffer.from('🍌', 'utf8')],
  ['combining marks', Buffer.from('e\u0301\u0301\u0301', 'utf8')],
  ['NBSP', Buffer.from('\u00a0', 'utf8')],
  ['escaped quote and backslash', Buffer.from('\\"\\\\')],
];

export type UnicodePlace = 'start' | 'end' | 'inString' | 'inKey' | 'betweenTokens' | 'inModel';

export interface UnicodeCase {
  edge: number;
  place: UnicodePlace;
  repeat: number;
}

export function unicodeArb(places: readonly UnicodePlace[]): fc.Arbitrary<UnicodeCase> {
  return fc.record({ edge: fc.nat({ max: UNICODE_EDGES.length - 1 }), place: fc.constantFrom(...places), repeat: fc.constantFrom(1, 2, 7) });
}

export function buildUnicode(face: 'native' | 'openai', d: UnicodeCase): BodyCase {
  const [name, seq] = UNICODE_EDGES[d.edge]!;
  const s = Buffer.concat(Array.from({ length: d.repeat }, () => seq));
  const b = (text: string) => Buffer.from(text, 'latin1');
  const parts: Buffer[] =
    face === 'native'
      ? {
          start: [s, b(goodNativeBody())],
          end: [b(goodNativeBody()), s],
          inString: [b('{"contents":[{"parts":[{"text":"a'), s, b('b"}]}]}')],
          inKey: [b('{"contents":[{"parts":[{"te'), s, b('xt":"a"}]}]}')],
          betweenTokens: [b('{"contents":'), s, b('[{"parts":[{"text":"a"}]}]}')],
          inModel: [b('{"contents":[{"parts":[{"text":"a"}]}],"model":"'), s, b('"}')],
        }[d.place]
      : {
          start: [s, b(goodGenerationsBody())],
          end: [b(goodGenerationsBody()), s],
          inString: [b('{"prompt":"a'), s, b('b","model":"nano-banana"}')],
          inKey: [b('{"pro'), s, b('mpt":"a","model":"nano-banana"}')],
          betweenTokens: [b('{"prompt":'), s, b('"a","model":"nano-banana"}')],
          inModel: [b('{"prompt":"a","model":"nano-'), s, b('banana"}')],
        }[d.place];
  return { label: `${name} ×${d.repeat} at ${d.place}`, body: Buffer.concat(parts) };
}

/** Content types a JSON route may be sent. */
export const JSON_CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json; charset=utf-16',
  'application/json;',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/json, text/plain',
  '',
] as const;

export { NATIVE_TEMPLATES, GENERATIONS_TEMPLATES };
