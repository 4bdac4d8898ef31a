/**
 * A Google result file as OpenAI's batch output file (#16): one line per OpenAI request, its
 * custom_id kept, as `{"id", "custom_id", "response": {"status_code", "request_id", "body"},
 * "error": null}` with an ImagesResponse body (`data[].b64_json`, `usage`), or the request's
 * error in OpenAI's shape. Lines are written as Google's responses stream in: one response (and
 * its image slices, never decoded or joined into a string) at a time; the n Google requests of
 * one OpenAI request (batch-input.ts) are joined back into its one line.
 */
import { createHash } from 'node:crypto';
import { httpStatusOf } from '../../batch/batch-pricing.js';
import type { ResultItem } from '../../batch/result-reader.js';
import { openaiKeyOf } from './batch-input.js';
import { usageFromMetadata } from './images-response.js';

const OPENAI_ERROR_TYPES: Readonly<Record<number, string>> = { 400: 'invalid_request_error', 401: 'invalid_request_error', 403: 'invalid_request_error', 404: 'invalid_request_error', 429: 'rate_limit_exceeded' };

export class OpenAIOutputWriter {
  readonly #batchName: string;
  readonly #createdSec: number;
  #group: ResultItem[] = [];
  #groupId: string | undefined;

  constructor(batchName: string, createdSec: number) {
    this.#batchName = batchName;
    this.#createdSec = createdSec;
  }

  /** The output lines this response completes (none while an OpenAI request's n images are still arriving). */
  push(item: ResultItem): Buffer[] {
    const key = openaiKeyOf(item.key);
    const customId = key?.customId ?? item.key ?? `request-${item.index}`;
    const out: Buffer[] = [];
    if (this.#groupId !== undefined && this.#groupId !== customId) out.push(...this.#flush());
    this.#groupId = customId;
    this.#group.push(item);
    if (!key || key.index + 1 >= key.count) out.push(...this.#flush());
    return out;
  }

  /** The end of the file: a group cut short (Google did not finish its requests) is written with what came. */
  end(): Buffer[] {
    return this.#flush();
  }

  #flush(): Buffer[] {
    const items = this.#group;
    const customId = this.#groupId;
    this.#group = [];
    this.#groupId = undefined;
    if (items.length === 0 || customId === undefined) return [];
    const first = items[0]!;
    const id = `batch_req_${createHash('sha256').update(`${this.#batchName}#${first.index}`).digest('hex').slice(0, 24)}`;
    const requestId = `${this.#batchName}#${first.index}`;
    const head = (response: string, error: string) => Buffer.from(`{"id":${JSON.stringify(id)},"custom_id":${JSON.stringify(customId)},"response":${response},"error":${error}}\n`);
    const images = items.flatMap((i) => i.response?.images ?? []);
    if (images.length === 0) {
      // No image in any of them: the first failure says why, as the images endpoint would.
      const failed = items.find((i) => i.error || i.malformed);
      const status = failed ? (failed.malformed ? 502 : httpStatusOf(failed.error?.code)) : 502;
      const reason = failed?.error?.message ?? (failed?.malformed ? "Google's response could not be read." : `Google returned no image (finish reason ${items.map((i) => i.response?.finishReasons.join(', ') || i.response?.blockReason || 'none').join('; ')}).`);
      const body = { error: { message: reason, type: OPENAI_ERROR_TYPES[status] ?? 'server_error', param: null, code: failed?.error?.status ?? 'no_image' } };
      return [head(JSON.stringify({ status_code: status, request_id: requestId, body }), 'null')];
    }
    // The body around the images: the base64 slices go out as Google sent them (already valid JSON string contents).
    const pieces: Buffer[] = [Buffer.from(`{"id":${JSON.stringify(id)},"custom_id":${JSON.stringify(customId)},"response":{"status_code":200,"request_id":${JSON.stringify(requestId)},"body":{"created":${this.#createdSec},"data":[`)];
    images.forEach((image, i) => {
      pieces.push(Buffer.from(`${i > 0 ? ',' : ''}{"b64_json":"`), ...image.base64, Buffer.from('"}'));
    });
    const usage = usageFromMetadata(items.map((i) => i.response?.usageMetadata));
    pieces.push(Buffer.from(`],"usage":${JSON.stringify(usage)}}},"error":null}\n`));
    return pieces;
  }
}
