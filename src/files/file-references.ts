/**
 * Files API objects named in a generateContent (or countTokens) request (#17.5): a part
 * `{"fileData": {"fileUri": …}}` naming a file uploaded through the gateway. Tenants know files
 * by the gateway's names only (`files/<id>`, or the `uri` the gateway gave, on the gateway's
 * host), which Google has never heard of: each is looked up (owner, expiry, the project it was
 * uploaded to) and its URI in the body swapped for Google's, every other byte as sent. The
 * project is where the call must go (project-affinity.ts).
 *
 * A file URI the gateway does not know for the caller is refused, in the face's shape, naming
 * it: Google's own names are never accepted (they would reach an object of another tenant's,
 * or fail at Google with a 403 about a file the tenant never saw). Other URIs (gs://, a web
 * image, a video) are not Files API objects and pass untouched.
 */
import { GatewayError } from '../errors/gateway-error.js';
import { JsonTokenizer, type ByteRange, type JsonHandler, type JsonKey, type StringCapture } from '../gemini/json-tokenizer.js';
import { fileIdFrom } from '../batch/names.js';
import type { Caller } from '../tenants/registry.js';
import type { FileService } from './file-service.js';

/** Where Google serves the Gemini API: a Files URI there is Google's name, whatever its id. */
const GOOGLE_HOST = 'generativelanguage.googleapis.com';

/**
 * The Files API name (`files/<id>`) a fileUri refers to, or undefined when it names no Files
 * object: `files/<id>`, or an http(s) URI whose path ends `/v1beta/files/<id>` (or `/v1/`) on
 * Google's host, or on any host when `<id>` is one of the gateway's (its own `uri`, reached
 * through whatever proxy or port the tenant uses).
 */
export function filesApiNameOf(uri: string): string | undefined {
  if (/^files\/[^/?#]+$/.test(uri)) return uri;
  if (!/^https?:\/\//i.test(uri)) return undefined;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  const id = /\/(?:v1beta|v1)\/files\/([^/?#:]+)$/.exec(url.pathname)?.[1];
  if (id === undefined) return undefined;
  return url.hostname === GOOGLE_HOST || fileIdFrom(id) !== undefined ? `files/${id}` : undefined;
}

/** The fileData URIs of a request's parts (contents and systemInstruction; camelCase or snake_case), in order. */
export function fileUrisOf(request: unknown): string[] {
  const out: string[] = [];
  const root = asRecord(request);
  if (!root) return out;
  const turns = [...(Array.isArray(root['contents']) ? root['contents'] : []), root['systemInstruction'] ?? root['system_instruction']];
  for (const turn of turns) {
    const parts = asRecord(turn)?.['parts'];
    if (!Array.isArray(parts)) continue;
    for (const part of parts) {
      const p = asRecord(part);
      const file = asRecord(p?.['fileData'] ?? p?.['file_data']);
      const uri = file?.['fileUri'] ?? file?.['file_uri'];
      if (typeof uri === 'string') out.push(uri);
    }
  }
  return out;
}

/** A file a request names: how the tenant wrote it, its gateway name, its project, and Google's URI for it. */
export interface FileReference {
  uri: string;
  name: string;
  projectId: string;
  googleUri: string;
}

/**
 * Each distinct fileData URI that names a Files object, resolved for the caller; throws
 * INVALID_ARGUMENT naming the first one the gateway does not know for it (or that expired).
 * `files` undefined: this gateway serves no Files API, so no such URI can be one of its files.
 */
export async function resolveFileReferences(files: FileService | undefined, caller: Caller, uris: readonly string[]): Promise<FileReference[]> {
  const out: FileReference[] = [];
  const seen = new Set<string>();
  for (const uri of uris) {
    if (seen.has(uri)) continue;
    seen.add(uri);
    const name = filesApiNameOf(uri);
    if (name === undefined) continue;
    if (!files) throw unknownFile(uri);
    const found = await files.forCall(caller, name);
    if (!found) throw unknownFile(uri);
    out.push({ uri, name, ...found });
  }
  return out;
}

function unknownFile(uri: string): GatewayError {
  return new GatewayError(
    'INVALID_ARGUMENT',
    `fileData.fileUri ${JSON.stringify(uri)} names no file of yours on this gateway. Upload the file through the gateway's Files API (POST /upload/v1beta/files, as files.upload does) and use the uri (or name) it returns.`,
    { param: 'fileData.fileUri' },
  );
}

/**
 * The body with each reference's URI, where it is a fileData.fileUri value, replaced by Google's
 * URI for the file; every other byte as sent. Read with the tokenizer (image data is skipped by
 * memchr, never decoded), so a body of 14 inline images costs a scan and one copy.
 */
export function withGoogleFileUris(body: Buffer, refs: readonly FileReference[]): Buffer {
  if (refs.length === 0) return body;
  const swaps = new Map(refs.map((r) => [r.uri, r.googleUri]));
  const finder = new FileUriFinder();
  const tokenizer = new JsonTokenizer(finder);
  tokenizer.write(body);
  if (!tokenizer.finish()) throw new GatewayError('INVALID_ARGUMENT', 'Invalid JSON payload received.');
  const out: Buffer[] = [];
  let at = 0;
  for (const { range, escaped } of finder.found) {
    const raw = body.subarray(range[0], range[1]);
    const value = escaped ? (JSON.parse(`"${raw.toString('utf8')}"`) as string) : raw.toString('utf8');
    const swap = swaps.get(value);
    if (swap === undefined) continue;
    out.push(body.subarray(at, range[0]), Buffer.from(JSON.stringify(swap).slice(1, -1), 'utf8'));
    at = range[1];
  }
  if (at === 0) return body;
  out.push(body.subarray(at));
  return Buffer.concat(out);
}

const FILE_PARENT = new Set<JsonKey>(['fileData', 'file_data']);
const URI_KEY = new Set<JsonKey>(['fileUri', 'file_uri']);

/** Where every `fileData.fileUri` string value sits in the body (one write: one range each). */
class FileUriFinder implements JsonHandler {
  readonly found: Array<{ range: ByteRange; escaped: boolean }> = [];
  readonly #keys: JsonKey[] = [];

  openContainer(key: JsonKey): void {
    this.#keys.push(key);
  }

  closeContainer(): void {
    this.#keys.pop();
  }

  stringCapture(key: JsonKey): StringCapture {
    return URI_KEY.has(key) && FILE_PARENT.has(this.#keys[this.#keys.length - 1]) ? 'range' : 'skip';
  }

  range(_key: JsonKey, ranges: ByteRange[], _byteLength: number, escaped: boolean): void {
    const first = ranges[0];
    const last = ranges[ranges.length - 1];
    // An empty string has no range: nothing to swap.
    if (first && last) this.found.push({ range: [first[0], last[1]], escaped });
  }

  text(): void {
    // never asked for
  }

  raw(): void {
    // never asked for
  }

  scalar(): void {
    // nothing to keep
  }
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
