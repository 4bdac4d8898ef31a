/**
 * An OpenAI batch input file (#16) as Google's: each line
 * `{"custom_id", "method": "POST", "url": "/v1/images/generations", "body": {...}}` becomes
 * `{"key", "request": GenerateContentRequest}` lines, built by the same translation as the
 * images endpoints (generations-request.ts). Pure.
 *
 * - `n` images of a line become n Google requests (one image each, contract §6) keyed
 *   `oa:<i>:<n>:<custom_id>`; the output file joins them back into one line (batch-output.ts).
 * - `/v1/images/edits` where it can be expressed in JSON: `image` / `images` as `data:` URLs
 *   (or `{"image_url": "data:..."}`), which become inlineData; a URL to fetch or a file id
 *   cannot be, and is refused with its line number.
 * - One model and one endpoint per file: a Google batch has one model.
 * - Images always come back as b64_json (there is no image hosting behind a batch); OpenAI's
 *   output format options are not applied to batch output.
 */
import { GatewayError } from '../../errors/gateway-error.js';
import type { ModelSpec } from '../../models/catalog.js';
import { buildGeminiRequest, parseImageFields, type ParseOptions } from './generations-request.js';

export const BATCH_ENDPOINTS = ['/v1/images/generations', '/v1/images/edits'] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

/** OpenAI's limit per batch file. */
export const MAX_BATCH_LINES = 50_000;

const KEY_PREFIX = 'oa:';

/** Google's key for image `index` of `count` of an OpenAI request. */
export function geminiKeyOf(customId: string, index: number, count: number): string {
  return `${KEY_PREFIX}${index}:${count}:${customId}`;
}

/** The OpenAI request behind a Google key, or undefined for a key the gateway did not write. */
export function openaiKeyOf(key: string | undefined): { customId: string; index: number; count: number } | undefined {
  if (key === undefined || !key.startsWith(KEY_PREFIX)) return undefined;
  const m = /^(\d+):(\d+):/.exec(key.slice(KEY_PREFIX.length));
  if (!m) return undefined;
  return { index: Number(m[1]), count: Number(m[2]), customId: key.slice(KEY_PREFIX.length + m[0].length) };
}

export interface TranslatedBatchInput {
  /** Google's JSONL. */
  jsonl: Buffer;
  endpoint: BatchEndpoint;
  model: ModelSpec;
  modelAsked: string;
  /** OpenAI requests (lines). */
  requests: number;
}

const invalid = (line: number, message: string, param?: string) =>
  new GatewayError('INVALID_ARGUMENT', `Line ${line} of the batch input file: ${message}`, param !== undefined ? { param } : {});

const DATA_URL = /^data:(image\/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=_-]+)$/i;

/** Reference images of an edits line, from data: URLs only. */
function editImages(body: Record<string, unknown>, line: number): Array<{ mimeType: string; base64: string }> {
  const raw = body['images'] ?? body['image'];
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  if (list.length === 0) throw invalid(line, "Missing required parameter: 'image' (a data: URL, or a list of them).", 'image');
  return list.map((item, i) => {
    const url = typeof item === 'string' ? item : item && typeof item === 'object' ? (item as Record<string, unknown>)['image_url'] : undefined;
    const text = typeof url === 'string' ? url : url && typeof url === 'object' ? (url as Record<string, unknown>)['url'] : undefined;
    const m = typeof text === 'string' ? DATA_URL.exec(text) : null;
    if (!m) throw invalid(line, `images[${i}]: a batch can take images only as data: URLs (data:image/png;base64,...); URLs to fetch and file ids cannot be sent to Google in a batch.`, `images[${i}]`);
    return { mimeType: m[1]!.toLowerCase(), base64: m[2]! };
  });
}

export function translateBatchInput(bytes: Buffer, opts: ParseOptions): TranslatedBatchInput {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  let endpoint: BatchEndpoint | undefined;
  let model: ModelSpec | undefined;
  let modelAsked = '';
  let requests = 0;
  const text = bytes.toString('utf8');
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    if (raw.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw invalid(lineNo, 'not valid JSON.');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid(lineNo, 'each line must be a JSON object.');
    const l = parsed as Record<string, unknown>;
    const customId = l['custom_id'];
    if (typeof customId !== 'string' || customId === '') throw invalid(lineNo, 'custom_id must be a non-empty string.', 'custom_id');
    if (seen.has(customId)) throw invalid(lineNo, `custom_id '${customId}' is used twice; each request needs its own.`, 'custom_id');
    seen.add(customId);
    if (l['method'] !== undefined && l['method'] !== 'POST') throw invalid(lineNo, "method must be 'POST'.", 'method');
    const url = l['url'];
    if (url !== '/v1/images/generations' && url !== '/v1/images/edits') {
      throw invalid(lineNo, `url must be /v1/images/generations or /v1/images/edits (this gateway serves image models), got ${JSON.stringify(url)}.`, 'url');
    }
    if (endpoint !== undefined && url !== endpoint) throw invalid(lineNo, `every line must use the same url (${endpoint}).`, 'url');
    endpoint = url;
    const body = l['body'];
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid(lineNo, 'body must be a JSON object.', 'body');
    const b = body as Record<string, unknown>;
    let req;
    try {
      req = parseImageFields(b, opts, 'json');
    } catch (e) {
      if (e instanceof GatewayError) throw invalid(lineNo, e.message, e.details.param);
      throw e;
    }
    if (req.stream) throw invalid(lineNo, 'stream cannot be used in a batch.', 'stream');
    if (model !== undefined && req.model.id !== model.id) throw invalid(lineNo, `every line must use the same model (a Google batch has one): ${model.id}, not ${req.model.id}.`, 'model');
    model = req.model;
    modelAsked = req.modelAsked;
    const images = url === '/v1/images/edits' ? editImages(b, lineNo) : [];
    if (images.length > req.model.maxReferenceImages) throw invalid(lineNo, `${req.model.id} accepts at most ${req.model.maxReferenceImages} reference images.`, 'image');
    const request = buildGeminiRequest({ prompt: req.prompt, images, imageConfig: req.imageConfig });
    for (let i = 0; i < req.n; i++) {
      out.push(Buffer.from(`{"key":${JSON.stringify(geminiKeyOf(customId, i, req.n))},"request":`), request, Buffer.from('}\n'));
    }
    requests++;
    if (requests > MAX_BATCH_LINES) throw invalid(lineNo, `a batch file may hold at most ${MAX_BATCH_LINES} requests.`);
  }
  if (!endpoint || !model) throw new GatewayError('INVALID_ARGUMENT', 'The batch input file holds no request.');
  return { jsonl: Buffer.concat(out), endpoint, model, modelAsked, requests };
}
