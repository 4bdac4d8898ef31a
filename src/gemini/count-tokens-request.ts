/**
 * The one change the native face makes to a body it relays (#11 item 5). The legacy
 * `@google/generative-ai` SDK's countTokens sends
 * `{"generateContentRequest": {"model": "models/<name asked>", …}}`: the name the client used,
 * an alias Google does not know. That one string becomes `models/<canonical id>`; every other
 * byte stays as sent. Google also takes snake_case request keys, so `generate_content_request`
 * is treated the same.
 */
import { JsonTokenizer, type ByteRange, type JsonHandler, type JsonKey, type StringCapture } from './json-tokenizer.js';

const WRAPPERS = new Set<JsonKey>(['generateContentRequest', 'generate_content_request']);
const MARKERS = ['generateContentRequest', 'generate_content_request'];

/** Finds where the string value of a top-level wrapper's `model` member sits. */
class ModelFinder implements JsonHandler {
  /** Keys of the open containers: [undefined] is the top-level object. */
  readonly #keys: JsonKey[] = [];
  readonly #arrays: boolean[] = [];
  readonly ranges: Array<{ start: number; end: number }> = [];

  openContainer(key: JsonKey, isArray: boolean): void {
    this.#keys.push(key);
    this.#arrays.push(isArray);
  }

  closeContainer(): void {
    this.#keys.pop();
    this.#arrays.pop();
  }

  stringCapture(key: JsonKey): StringCapture {
    const depth = this.#keys.length;
    return key === 'model' && depth === 2 && !this.#arrays[0] && !this.#arrays[1] && WRAPPERS.has(this.#keys[1]) ? 'range' : 'skip';
  }

  range(_key: JsonKey, ranges: ByteRange[]): void {
    if (ranges.length === 0) return;
    // One buffer is written, so one range; take its span in any case.
    this.ranges.push({ start: ranges[0]![0], end: ranges[ranges.length - 1]![1] });
  }

  text(): void {}
  raw(): void {}
  scalar(): void {}
}

/**
 * `body` with `generateContentRequest.model` (each occurrence, should a member be repeated)
 * naming `models/<modelId>`; the same Buffer when there is nothing to change: no such member,
 * a model that is not a string, a body that is not well-formed JSON (Google judges it), or a
 * model already canonical.
 */
export function canonicalCountTokensBody(body: Buffer, modelId: string): Buffer {
  // Most countTokens bodies are `{"contents": …}`: no tokenizing for them.
  if (!MARKERS.some((m) => body.includes(m))) return body;
  const finder = new ModelFinder();
  const tokenizer = new JsonTokenizer(finder);
  tokenizer.write(body);
  if (!tokenizer.finish() || finder.ranges.length === 0) return body;
  const wanted = Buffer.from(`models/${modelId}`);
  const pieces: Buffer[] = [];
  let at = 0;
  let changed = false;
  for (const { start, end } of finder.ranges) {
    if (body.subarray(start, end).equals(wanted)) continue;
    pieces.push(body.subarray(at, start), wanted);
    at = end;
    changed = true;
  }
  if (!changed) return body;
  pieces.push(body.subarray(at));
  return Buffer.concat(pieces);
}
