/**
 * Reads a finished batch's responses as they stream from Google (#16), one at a time, never
 * the whole output: a result file of 10,000 Pro 2K images is ~60 GB of base64... in practice
 * gigabytes, and an inline batch's operation can be hundreds of megabytes. The bytes go through
 * the incremental tokenizer (json-tokenizer.ts), which skips image base64 with memchr (or, for
 * the OpenAI face's output file, keeps it as zero-copy slices until the response is handed
 * over); only the small values metering needs become JS values.
 *
 * Two framings (docs/google-batch-api.md §2, §3):
 * - 'jsonl': a result file, one `{"key", "response" | "error" | "status", "request"?}` per line.
 * - 'operation': a batches.get answer; responses sit in
 *   `metadata.output.inlinedResponses.inlinedResponses[]`, and perhaps again under `response`
 *   (unverified): only the first of the two lists met is read, so none counts twice. Its state,
 *   times, stats and result file name are kept too (`operation`).
 */
import { JsonTokenizer, type ByteRange, type JsonHandler, type JsonKey, type StringCapture } from '../gemini/json-tokenizer.js';
import type { ModelStatus, UsageMetadata } from '../gemini/types.js';

export interface ResultImage {
  mimeType: string;
  /** The base64 as sent, as slices of the received chunks (captureImages only). */
  base64: Buffer[];
  base64Length: number;
}

export interface ResultResponse {
  usageMetadata?: UsageMetadata;
  finishReasons: string[];
  blockReason?: string;
  /** Non-thought image parts. */
  imageCount: number;
  /** Non-thought images, in order (captureImages only). */
  images: ResultImage[];
  /** Non-thought text parts joined (captureImages only). */
  text: string;
  modelVersion?: string;
  responseId?: string;
  modelStatus?: ModelStatus;
}

export interface ResultItem {
  /** 0-based position among the batch's responses: the request's index. */
  index: number;
  /** The line's `key`, or an inline response's `metadata.key`. */
  key?: string;
  metadata?: unknown;
  response?: ResultResponse;
  /** Google's status for a request it could not process. */
  error?: { code?: number; message?: string; status?: string };
  /** The line was not well-formed JSON (jsonl): nothing of it can be known. */
  malformed?: boolean;
}

/** What a batches.get answer says besides its responses. */
export interface OperationSummary {
  name?: string;
  done?: boolean;
  state?: string;
  displayName?: string;
  model?: string;
  createTime?: string;
  updateTime?: string;
  endTime?: string;
  batchStats: Record<string, string>;
  /** Google's result file (metadata.output or response). */
  responsesFile?: string;
  /** inlinedResponses seen (whether or not they were read). */
  inlinedResponses: number;
  error?: { code?: number; message?: string };
}

export interface ResultReaderOptions {
  framing: 'jsonl' | 'operation';
  /** Keep image base64 and text (the OpenAI face writes them out); default false (metering). */
  captureImages?: boolean;
  /** Each response, as soon as its closing brace has been read. */
  onItem?: (item: ResultItem) => void;
}

type Role =
  | 'skip'
  | 'build'
  | 'op'
  | 'opMeta'
  | 'opResponse'
  | 'opOutput'
  | 'opError'
  | 'batchStats'
  | 'inlinedWrap'
  | 'itemList'
  | 'item'
  | 'response'
  | 'promptFeedback'
  | 'candidates'
  | 'candidate'
  | 'content'
  | 'parts'
  | 'part'
  | 'inlineData';

interface Frame {
  role: Role;
  /** For 'inlinedWrap' / 'itemList': which list it is ('metadata' or 'response'). */
  source?: 'metadata' | 'response';
}

type BuildTarget = 'usage' | 'error' | 'metadata' | 'modelStatus';

interface PendingPart {
  thought: boolean;
  isImage: boolean;
  mimeType: string;
  pieces: Buffer[];
  bytes: number;
  text?: string;
}

/** A small subtree (usageMetadata, an error, an inline response's metadata) built as JSON.parse would. */
class ValueBuilder {
  readonly #stack: Array<unknown[] | Record<string, unknown>> = [];
  value: unknown;

  open(key: JsonKey, isArray: boolean): void {
    const container = isArray ? [] : {};
    this.put(key, container);
    this.#stack.push(container);
  }

  close(): boolean {
    this.#stack.pop();
    return this.#stack.length === 0;
  }

  put(key: JsonKey, value: unknown): void {
    const top = this.#stack[this.#stack.length - 1];
    if (top === undefined) this.value = value;
    else if (Array.isArray(top)) top.push(value);
    else Object.defineProperty(top, String(key), { value, enumerable: true, writable: true, configurable: true });
  }
}

const OP_META_TEXT = new Set(['state', 'createTime', 'updateTime', 'endTime', 'displayName', 'model', 'name']);

class ResultHandler implements JsonHandler {
  readonly #opts: ResultReaderOptions;
  readonly #capture: boolean;
  readonly #frames: Frame[] = [];
  #builder: ValueBuilder | undefined;
  /** What the builder's value becomes, once its subtree closes. */
  #builderTarget: BuildTarget | undefined;
  #item: ResultItem | undefined;
  #part: PendingPart | undefined;
  #chosenSource: 'metadata' | 'response' | undefined;
  #itemSource: 'metadata' | 'response' | undefined;
  #count = 0;
  readonly operation: OperationSummary = { batchStats: {}, inlinedResponses: 0 };

  constructor(opts: ResultReaderOptions) {
    this.#opts = opts;
    this.#capture = opts.captureImages ?? false;
  }

  get count(): number {
    return this.#count;
  }

  /** Bytes of image base64 held for the response being read. */
  heldBytes(): number {
    return (this.#item?.response?.images.reduce((s, i) => s + i.base64Length, 0) ?? 0) + (this.#part?.bytes ?? 0);
  }

  /** A line that could not be read still takes a request's place (jsonl). */
  countBroken(): number {
    return this.#count++;
  }

  /** A new line (jsonl): forget the last one's frames. */
  resetDocument(): void {
    this.#frames.length = 0;
    this.#builder = undefined;
    this.#builderTarget = undefined;
    this.#item = undefined;
    this.#part = undefined;
  }

  #top(): Frame | undefined {
    return this.#frames[this.#frames.length - 1];
  }

  #roleOf(parent: Frame | undefined, key: JsonKey): Frame {
    if (parent === undefined) return { role: this.#opts.framing === 'jsonl' ? 'item' : 'op' };
    switch (parent.role) {
      case 'op':
        if (key === 'metadata') return { role: 'opMeta' };
        if (key === 'response') return { role: 'opResponse' };
        if (key === 'error') return { role: 'opError' };
        return { role: 'skip' };
      case 'opMeta':
        if (key === 'output') return { role: 'opOutput', source: 'metadata' };
        if (key === 'batchStats') return { role: 'batchStats' };
        return { role: 'skip' };
      case 'opResponse':
        // Google's response may hold the output directly or under `output` (unverified).
        if (key === 'output') return { role: 'opOutput', source: 'response' };
        if (key === 'inlinedResponses') return { role: 'inlinedWrap', source: 'response' };
        return { role: 'skip' };
      case 'opOutput':
        if (key === 'inlinedResponses') return { role: 'inlinedWrap', ...(parent.source ? { source: parent.source } : {}) };
        return { role: 'skip' };
      case 'inlinedWrap':
        if (key === 'inlinedResponses') return { role: 'itemList', ...(parent.source ? { source: parent.source } : {}) };
        return { role: 'skip' };
      case 'itemList': {
        this.operation.inlinedResponses++;
        const source = parent.source ?? 'metadata';
        this.#chosenSource ??= source;
        if (source !== this.#chosenSource) return { role: 'skip' };
        return { role: 'item' };
      }
      case 'item':
        if (key === 'response') return { role: 'response' };
        return { role: 'skip' };
      case 'response':
        if (key === 'candidates') return { role: 'candidates' };
        if (key === 'promptFeedback') return { role: 'promptFeedback' };
        return { role: 'skip' };
      case 'candidates':
        return { role: 'candidate' };
      case 'candidate':
        return { role: key === 'content' ? 'content' : 'skip' };
      case 'content':
        return { role: key === 'parts' ? 'parts' : 'skip' };
      case 'parts':
        return { role: 'part' };
      case 'part':
        return { role: key === 'inlineData' || key === 'inline_data' ? 'inlineData' : 'skip' };
      default:
        return { role: 'skip' };
    }
  }

  /** Subtrees built whole: which, under the frame about to receive `key`. */
  #buildTarget(parent: Frame | undefined, key: JsonKey): BuildTarget | undefined {
    if (parent?.role === 'item') {
      if (key === 'error' || key === 'status') return 'error';
      if (key === 'metadata') return 'metadata';
    }
    if (parent?.role === 'response') {
      if (key === 'usageMetadata') return 'usage';
      if (key === 'modelStatus') return 'modelStatus';
    }
    return undefined;
  }

  openContainer(key: JsonKey, isArray: boolean): void {
    if (this.#builder) {
      this.#builder.open(key, isArray);
      this.#frames.push({ role: 'build' });
      return;
    }
    const parent = this.#top();
    const target = this.#buildTarget(parent, key);
    if (target) {
      this.#builder = new ValueBuilder();
      this.#builderTarget = target;
      this.#builder.open(undefined, isArray);
      this.#frames.push({ role: 'build' });
      return;
    }
    const frame = this.#roleOf(parent, key);
    this.#frames.push(frame);
    if (frame.role === 'item') {
      this.#item = { index: this.#count };
      this.#itemSource = this.#chosenSource;
    } else if (frame.role === 'response' && this.#item) {
      this.#item.response = { finishReasons: [], imageCount: 0, images: [], text: '' };
    } else if (frame.role === 'part') {
      this.#part = { thought: false, isImage: false, mimeType: '', pieces: [], bytes: 0 };
    } else if (frame.role === 'inlineData' && this.#part) {
      this.#part.isImage = true;
    }
  }

  closeContainer(): void {
    const frame = this.#frames.pop();
    if (!frame) return;
    if (frame.role === 'build') {
      if (this.#builder!.close()) this.#finishBuild();
      return;
    }
    if (frame.role === 'part') this.#finishPart();
    else if (frame.role === 'item') this.#finishItem();
  }

  #finishBuild(): void {
    const value = this.#builder!.value;
    const target = this.#builderTarget;
    this.#builder = undefined;
    this.#builderTarget = undefined;
    const item = this.#item;
    if (!item) return;
    if (target === 'usage' && item.response && value && typeof value === 'object') item.response.usageMetadata = value as UsageMetadata;
    else if (target === 'modelStatus' && item.response && value && typeof value === 'object') item.response.modelStatus = value as ModelStatus;
    else if (target === 'error' && value && typeof value === 'object') {
      const e = value as { code?: unknown; message?: unknown; status?: unknown };
      item.error = {
        ...(typeof e.code === 'number' ? { code: e.code } : {}),
        ...(typeof e.message === 'string' ? { message: e.message } : {}),
        ...(typeof e.status === 'string' ? { status: e.status } : {}),
      };
    } else if (target === 'metadata') {
      item.metadata = value;
      const key = value && typeof value === 'object' ? (value as { key?: unknown }).key : undefined;
      if (typeof key === 'string' && item.key === undefined) item.key = key;
    }
  }

  #finishPart(): void {
    const part = this.#part;
    this.#part = undefined;
    const response = this.#item?.response;
    if (!part || !response || part.thought) return;
    if (part.isImage && part.mimeType.startsWith('image/')) {
      response.imageCount++;
      if (this.#capture) response.images.push({ mimeType: part.mimeType, base64: part.pieces, base64Length: part.bytes });
    }
    if (part.text !== undefined && this.#capture) response.text += part.text;
  }

  #finishItem(): void {
    const item = this.#item;
    this.#item = undefined;
    if (!item) return;
    if (this.#opts.framing === 'operation' && this.#itemSource !== undefined && this.#itemSource !== this.#chosenSource) return;
    this.#count++;
    this.#opts.onItem?.(item);
  }

  stringCapture(key: JsonKey): StringCapture {
    if (this.#builder) return 'text';
    const frame = this.#top();
    switch (frame?.role) {
      case 'item':
        return key === 'key' ? 'text' : 'skip';
      case 'response':
        return key === 'modelVersion' || key === 'responseId' ? 'text' : 'skip';
      case 'candidate':
        return key === 'finishReason' ? 'text' : 'skip';
      case 'promptFeedback':
        return key === 'blockReason' ? 'text' : 'skip';
      case 'part':
        return key === 'text' && this.#capture ? 'text' : 'skip';
      case 'inlineData':
        if (key === 'mimeType' || key === 'mime_type') return 'text';
        return key === 'data' && this.#capture ? 'raw' : 'skip';
      case 'op':
        return key === 'name' ? 'text' : 'skip';
      case 'opMeta':
        return typeof key === 'string' && OP_META_TEXT.has(key) ? 'text' : 'skip';
      case 'batchStats':
        return 'text';
      case 'opOutput':
        return key === 'responsesFile' ? 'text' : 'skip';
      case 'opResponse':
        return key === 'responsesFile' ? 'text' : 'skip';
      case 'opError':
        return key === 'message' ? 'text' : 'skip';
      default:
        return 'skip';
    }
  }

  text(key: JsonKey, value: string | undefined): void {
    if (this.#builder) return this.#builder.put(key, value);
    const frame = this.#top();
    if (value === undefined) return;
    const response = this.#item?.response;
    switch (frame?.role) {
      case 'item':
        if (this.#item) this.#item.key = value;
        return;
      case 'response':
        if (response && key === 'modelVersion') response.modelVersion = value;
        if (response && key === 'responseId') response.responseId = value;
        return;
      case 'candidate':
        response?.finishReasons.push(value);
        return;
      case 'promptFeedback':
        if (response) response.blockReason = value;
        return;
      case 'part':
        if (this.#part) this.#part.text = value;
        return;
      case 'inlineData':
        if (this.#part) this.#part.mimeType = value;
        return;
      case 'op':
        this.operation.name = value;
        return;
      case 'opMeta':
        if (key === 'state') this.operation.state = value;
        else if (key === 'createTime') this.operation.createTime = value;
        else if (key === 'updateTime') this.operation.updateTime = value;
        else if (key === 'endTime') this.operation.endTime = value;
        else if (key === 'displayName') this.operation.displayName = value;
        else if (key === 'model') this.operation.model = value;
        else if (key === 'name') this.operation.name ??= value;
        return;
      case 'batchStats':
        if (typeof key === 'string') this.operation.batchStats[key] = value;
        return;
      case 'opOutput':
      case 'opResponse':
        this.operation.responsesFile ??= value;
        return;
      case 'opError':
        this.operation.error = { ...this.operation.error, message: value };
        return;
    }
  }

  raw(_key: JsonKey, pieces: Buffer[], byteLength: number): void {
    if (this.#part) {
      this.#part.pieces = pieces;
      this.#part.bytes = byteLength;
    }
  }

  range(_key: JsonKey, _ranges: ByteRange[]): void {
    // never asked for
  }

  scalar(key: JsonKey, value: number | boolean | null): void {
    if (this.#builder) return this.#builder.put(key, value);
    const frame = this.#top();
    if (frame?.role === 'part' && key === 'thought' && this.#part) this.#part.thought = value === true;
    else if (frame?.role === 'op' && key === 'done') this.operation.done = value === true;
    else if (frame?.role === 'opError' && key === 'code' && typeof value === 'number') this.operation.error = { ...this.operation.error, code: value };
    else if (frame?.role === 'batchStats' && typeof key === 'string' && typeof value === 'number') this.operation.batchStats[key] = String(value);
  }
}

const NEWLINE = 0x0a;

export class BatchResultReader {
  readonly #framing: 'jsonl' | 'operation';
  readonly #handler: ResultHandler;
  readonly #tokenizer: JsonTokenizer;
  readonly #onItem: ((item: ResultItem) => void) | undefined;
  #malformed = false;
  #bytes = 0;

  constructor(opts: ResultReaderOptions) {
    this.#framing = opts.framing;
    this.#onItem = opts.onItem;
    this.#handler = new ResultHandler(opts);
    this.#tokenizer = new JsonTokenizer(this.#handler);
  }

  /** Bytes this reader holds now: the tokenizer's pieces and the current response's images. */
  retainedBytes(): number {
    return this.#tokenizer.retainedBytes() + this.#handler.heldBytes();
  }

  get bytes(): number {
    return this.#bytes;
  }

  write(chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (this.#framing === 'operation') {
      this.#tokenizer.write(chunk);
      return;
    }
    // JSONL: a raw line break cannot occur inside a JSON value, so it ends a line.
    let at = 0;
    while (at < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, at);
      const end = nl < 0 ? chunk.length : nl;
      if (end > at) this.#tokenizer.write(chunk, at, end);
      if (nl < 0) break;
      this.#endLine();
      at = nl + 1;
    }
  }

  #endLine(): void {
    if (this.#tokenizer.started) {
      if (!this.#tokenizer.finish()) {
        // Nothing of a broken line can be trusted; it still took a request's place.
        this.#malformed = true;
        this.#onItem?.({ index: this.#handler.countBroken(), malformed: true });
      }
    }
    this.#tokenizer.reset();
    this.#handler.resetDocument();
  }

  /** The stream ended: how many responses were read, whether any line was broken, the operation's own fields. */
  end(): { responses: number; malformed: boolean; operation: OperationSummary } {
    if (this.#framing === 'jsonl') this.#endLine();
    else if (!this.#tokenizer.finish()) this.#malformed = true;
    return { responses: this.#handler.count, malformed: this.#malformed, operation: this.#handler.operation };
  }
}
