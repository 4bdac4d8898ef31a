import { request } from 'undici';
import { GatewayError } from '../../errors/gateway-error.js';
import { sniffImageType } from './edits-request.js';
import { invalidParam as invalid } from './param-errors.js';

/** An input image as Gemini takes it: inlineData's type and base64. */
export interface InlineImage {
  mimeType: string;
  base64: string;
}

/** Gemini's accepted input types (google-api.md §2). */
const GEMINI_INPUT_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/heic', 'image/heif']);
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DATA_URL = /^data:([^,;]*)((?:;[^,;]*)*),/i;


/** What http(s) image URLs may be fetched, and how much of one may be read. */
export interface ImageUrlPolicy {
  /** config openai.imageUrlHosts: `host`, `host:port`, `*.domain`. Empty: no fetching at all. */
  allowHosts: readonly string[];
  maxBytes: number;
  timeoutMs: number;
}

/** Whether `url`'s host is one the operator listed (exact host, host:port, or a subdomain of `*.domain`). */
export function hostAllowed(url: URL, allowHosts: readonly string[]): boolean {
  const hostname = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of allowHosts) {
    const entry = raw.toLowerCase();
    const colon = entry.lastIndexOf(':');
    const [pattern, wantPort] = colon > 0 && /^\d+$/.test(entry.slice(colon + 1)) ? [entry.slice(0, colon), entry.slice(colon + 1)] : [entry, undefined];
    if (wantPort !== undefined && wantPort !== port) continue;
    if (pattern.startsWith('*.') ? hostname.endsWith(pattern.slice(1)) && hostname.length > pattern.length - 1 : hostname === pattern) return true;
  }
  return false;
}

/** The image type Gemini is told: the bytes' own when known, else the declared one if Gemini takes it. */
function imageType(head: Buffer, declared: string, param: string): string {
  const sniffed = sniffImageType(head);
  if (sniffed) return sniffed;
  const type = declared.split(';')[0]?.trim().toLowerCase() ?? '';
  const normalized = type === 'image/jpg' ? 'image/jpeg' : type;
  if (GEMINI_INPUT_TYPES.has(normalized)) return normalized;
  throw invalid(param, `Invalid image in '${param}': type '${type || 'unknown'}' is not supported. Supported types are: 'image/png', 'image/jpeg', 'image/webp', 'image/heic', 'image/heif'.`);
}

/** A `data:image/...;base64,...` URL as inline data; the base64 is used as sent, not decoded. */
export function parseDataUrl(url: string, param: string): InlineImage {
  const m = DATA_URL.exec(url);
  if (!m || !/;base64$/i.test(m[2] ?? '')) throw invalid(param, `Invalid image URL in '${param}': a data URL must be 'data:<image type>;base64,<data>'.`);
  const base64 = url.slice(m[0].length);
  if (base64.length === 0 || !BASE64.test(base64)) throw invalid(param, `Invalid image URL in '${param}': its data is not base64.`);
  // The first bytes are enough to tell the type; 24 base64 characters are 18 bytes.
  const head = Buffer.from(base64.slice(0, 24), 'base64');
  return { mimeType: imageType(head, m[1] ?? '', param), base64 };
}

/**
 * An image URL from a request: a data URL, or an http(s) URL on a host the operator allows
 * (config openai.imageUrlHosts). Any other address is refused before a connection is made, and
 * redirects are not followed (a listed host cannot send the gateway somewhere unlisted).
 */
export async function resolveImageUrl(url: string, param: string, policy: ImageUrlPolicy, signal?: AbortSignal): Promise<InlineImage> {
  if (/^data:/i.test(url)) return parseDataUrl(url, param);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(param, `Invalid image URL in '${param}': expected a data URL (data:image/png;base64,...) or an http(s) URL.`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalid(param, `Invalid image URL in '${param}': the scheme '${parsed.protocol}' is not supported; send a data URL.`);
  }
  if (!hostAllowed(parsed, policy.allowHosts)) {
    throw invalid(
      param,
      policy.allowHosts.length === 0
        ? `Image URLs are not fetched by this gateway: send the image as a data URL (data:image/png;base64,...) in '${param}'.`
        : `The image host '${parsed.host}' is not one this gateway may fetch from: send the image as a data URL in '${param}', or ask the operator to allow the host.`,
    );
  }
  let res;
  try {
    res = await request(parsed, { method: 'GET', headersTimeout: policy.timeoutMs, bodyTimeout: policy.timeoutMs, ...(signal ? { signal } : {}) });
  } catch (e) {
    throw invalid(param, `The image at '${parsed.origin}${parsed.pathname}' could not be fetched: ${(e as Error).message}.`);
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => {});
    throw invalid(param, `The image at '${parsed.origin}${parsed.pathname}' could not be fetched: its server answered HTTP ${res.statusCode}.`);
  }
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > policy.maxBytes) {
    res.body.destroy();
    throw new GatewayError('BODY_TOO_LARGE', `The image at '${parsed.origin}${parsed.pathname}' is larger than ${policy.maxBytes} bytes.`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > policy.maxBytes) {
      res.body.destroy();
      throw new GatewayError('BODY_TOO_LARGE', `The image at '${parsed.origin}${parsed.pathname}' is larger than ${policy.maxBytes} bytes.`);
    }
    chunks.push(chunk as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length === 0) throw invalid(param, `The image at '${parsed.origin}${parsed.pathname}' is empty.`);
  const contentType = res.headers['content-type'];
  return { mimeType: imageType(bytes, typeof contentType === 'string' ? contentType : '', param), base64: bytes.toString('base64') };
}
