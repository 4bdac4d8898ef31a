/**
 * Google's upload protocols as clients send them (docs/google-batch-api.md §4), parsed: pure.
 */
import { GatewayError } from '../errors/gateway-error.js';

/** `X-Goog-Upload-Command: upload, finalize` as a set of words. */
export function uploadCommands(header: string | string[] | undefined): Set<string> {
  const raw = Array.isArray(header) ? header.join(',') : (header ?? '');
  return new Set(
    raw
      .split(',')
      .map((c) => c.trim().toLowerCase())
      .filter((c) => c !== ''),
  );
}

export interface MultipartUpload {
  /** The JSON part: `{"file": {displayName?, mimeType?}}`. */
  metadata: Record<string, unknown>;
  mimeType: string;
  media: Buffer;
}

/**
 * A `multipart/related` upload (the legacy SDK's GoogleAIFileManager): a JSON metadata part,
 * then the media part with its own Content-Type. Throws INVALID_ARGUMENT naming what is wrong.
 */
export function parseMultipartRelated(contentType: string | undefined, body: Buffer): MultipartUpload {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  const b = boundary?.[1] ?? boundary?.[2];
  if (!b) throw new GatewayError('INVALID_ARGUMENT', 'A multipart upload needs Content-Type: multipart/related; boundary=...');
  const delimiter = Buffer.from(`--${b}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const next = body.indexOf(delimiter, at + delimiter.length);
    if (next < 0) break;
    parts.push(body.subarray(at + delimiter.length, next));
    at = next;
  }
  if (parts.length < 2) throw new GatewayError('INVALID_ARGUMENT', 'A multipart upload needs a metadata part and a media part.');
  const read = (p: Buffer) => {
    const headEnd = p.indexOf('\r\n\r\n');
    if (headEnd < 0) throw new GatewayError('INVALID_ARGUMENT', 'A part of the multipart upload has no header block.');
    const head = p.subarray(0, headEnd).toString('latin1');
    let content = p.subarray(headEnd + 4);
    // The line break before the next delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    if (content.length >= 2 && content[content.length - 2] === 0x0d && content[content.length - 1] === 0x0a) content = content.subarray(0, -2);
    return { type: /content-type:\s*([^\r\n;]+)/i.exec(head)?.[1]?.trim(), content };
  };
  const meta = read(parts[0]!);
  const media = read(parts[1]!);
  let metadata: unknown;
  try {
    metadata = JSON.parse(meta.content.toString('utf8'));
  } catch {
    throw new GatewayError('INVALID_ARGUMENT', 'The metadata part of the multipart upload is not JSON.');
  }
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) throw new GatewayError('INVALID_ARGUMENT', 'The metadata part of the multipart upload must be a JSON object.');
  return { metadata: metadata as Record<string, unknown>, mimeType: media.type ?? 'application/octet-stream', media: media.content };
}

/** `{"file": {...}}` of an upload's JSON metadata: display name and type, as Google reads them. */
export function fileMetadata(root: Record<string, unknown> | undefined): { displayName?: string; mimeType?: string } {
  const file = root?.['file'];
  const f = file && typeof file === 'object' && !Array.isArray(file) ? (file as Record<string, unknown>) : {};
  const displayName = f['displayName'] ?? f['display_name'];
  const mimeType = f['mimeType'] ?? f['mime_type'];
  return { ...(typeof displayName === 'string' ? { displayName: displayName.slice(0, 512) } : {}), ...(typeof mimeType === 'string' ? { mimeType } : {}) };
}
