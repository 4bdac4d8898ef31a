import { JsonTokenizer, type ByteRange, type JsonHandler, type JsonKey, type StringCapture } from './json-tokenizer.js';

/**
 * Parses a request body the way JSON.parse would, except that `inlineData.data` strings are
 * left out: the gateway forwards the bytes as sent and only needs the request's shape (to
 * validate it) and its text (to estimate tokens). A 14-image edit is megabytes of base64;
 * JSON.parse would first copy it into a string and then again into the parsed value.
 * Throws SyntaxError on malformed JSON, as JSON.parse does.
 *
 * A body up to `parseWholeBytes` has no megabytes to avoid: it goes through JSON.parse, several
 * times cheaper than the tokenizer on a short prompt, and its image data is dropped after.
 */
export function parseRequestSkeleton(body: Buffer, parseWholeBytes = PARSE_WHOLE_BYTES): unknown {
  if (body.length <= parseWholeBytes) return dropImageData(JSON.parse(body.toString()), undefined);
  const builder = new SkeletonBuilder();
  const tokenizer = new JsonTokenizer(builder);
  tokenizer.write(body);
  if (!tokenizer.finish()) throw new SyntaxError(tokenizer.started ? 'malformed JSON' : 'empty body');
  return builder.value;
}

const PARSE_WHOLE_BYTES = 64 * 1024;

const isImageParent = (key: JsonKey) => key === 'inlineData' || key === 'inline_data';

/** Removes the `data` string of every inlineData object, in place, as the tokenizer path skips it. */
function dropImageData(value: unknown, key: JsonKey): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) dropImageData(value[i], i);
    return value;
  }
  const record = value as Record<string, unknown>;
  if (isImageParent(key) && typeof record['data'] === 'string') delete record['data'];
  for (const name in record) dropImageData(record[name], name);
  return value;
}

class SkeletonBuilder implements JsonHandler {
  readonly #stack: Array<unknown[] | Record<string, unknown>> = [];
  /** Key path of open containers, to recognise `inlineData.data`. */
  readonly #keys: JsonKey[] = [];
  value: unknown;

  openContainer(key: JsonKey, isArray: boolean): void {
    const container = isArray ? [] : {};
    this.#put(key, container);
    this.#stack.push(container);
    this.#keys.push(key);
  }

  closeContainer(): void {
    this.#stack.pop();
    this.#keys.pop();
  }

  stringCapture(key: JsonKey): StringCapture {
    const parent = this.#keys[this.#keys.length - 1];
    return key === 'data' && isImageParent(parent) ? 'skip' : 'text';
  }

  text(key: JsonKey, value: string | undefined): void {
    this.#put(key, value);
  }

  raw(): void {
    // never asked for
  }

  range(_key: JsonKey, _ranges: ByteRange[]): void {
    // never asked for
  }

  scalar(key: JsonKey, value: number | boolean | null): void {
    this.#put(key, value);
  }

  #put(key: JsonKey, value: unknown): void {
    const top = this.#stack[this.#stack.length - 1];
    if (top === undefined) this.value = value;
    else if (Array.isArray(top)) top.push(value);
    // defineProperty: a "__proto__" member stays an own property, as JSON.parse makes it.
    else Object.defineProperty(top, key as string, { value, enumerable: true, writable: true, configurable: true });
  }
}
