/**
 * Learns what metering needs from Google's generateContent answers while they are relayed:
 * usageMetadata, finish and block reasons, image counts, error envelopes, Google's modelStatus
 * (models-2026-11.md §5) and, for the OpenAI face, the images' base64 (google-api.md §3, §5, §8).
 *
 * Big answers are never buffered: a 4K image answer is ~20 MB of base64 JSON and 64 may be in
 * flight. Their bytes go through an incremental tokenizer (json-tokenizer.ts) that skips or
 * slices big strings with memchr, and only the small values the summary needs become JS values.
 * A small document (a whole answer or one SSE event, up to SMALL_DOCUMENT_BYTES) is kept until
 * it ends and read with JSON.parse instead, which is several times cheaper than tokenizing it
 * byte by byte; its values are replayed to the same reader, so both paths give one summary. A
 * document JSON.parse rejects is tokenized after all, which reports what came before the fault.
 */
import { JsonTokenizer, MAX_DEPTH, MAX_KEY_BYTES, type ByteRange, type JsonHandler, type JsonKey, type StringCapture } from './json-tokenizer.js';
import { SseEventReader } from './sse-events.js';
import type { ModalityTokenCount, ModelStatus, UsageMetadata } from './types.js';

export type Framing = 'json' | 'json-array' | 'sse';

export interface ScanOptions {
  /**
   * 'json': one GenerateContentResponse (or an error envelope); 'json-array':
   * streamGenerateContent without alt (one JSON array of responses); 'sse': alt=sse (`data:
   * <json>` events separated by blank lines). 'json' and 'json-array' both accept a top-level
   * object or array; 'sse' also accepts a plain JSON body, which is how Google answers a stream
   * request that fails before it starts (§5).
   */
  framing: Framing;
  /**
   * Keep image data (for the OpenAI face); default false. 'ranges' keeps only where each image's
   * base64 sits in the body (framing 'json' only), for a consumer that spools the body itself;
   * a small document (parsed whole) gives its images as bytes instead, without ranges.
   */
  captureImages?: boolean | 'ranges';
  /** Documents up to this many bytes are JSON.parse-d whole (default SMALL_DOCUMENT_BYTES; 0: always tokenize). */
  smallDocumentBytes?: number;
  /**
   * Keep each part's `thoughtSignature` (on images, and in `signedParts`), for a face that hands
   * them back to a client so the next turn can return them to Google (google-api.md §3).
   */
  captureSignatures?: boolean;
  /**
   * Called as each part of a candidate closes, in answer order: a streaming face forwards text
   * deltas and images (interim thought images included) as they arrive rather than at the end.
   */
  onPart?: (part: ScannedPart) => void;
}

/** One closed part of an answer, as `onPart` reports it. */
export interface ScannedPart {
  candidateIndex: number;
  thought: boolean;
  /** The part's text (a delta, when streamed). */
  text?: string;
  /** An image part (captured when captureImages is set; else only its mimeType is known). */
  image?: ScannedImage;
  thoughtSignature?: string;
}

export interface ScannedImage {
  mimeType: string;
  /** The base64 text exactly as Google sent it, as zero-copy slices (Buffer.subarray) of the received chunks; concatenated they are the string's raw bytes. If the JSON string contained escapes (e.g. `\/`), one decoded Buffer instead. */
  base64: Buffer[];
  base64Length: number;
  /** With captureImages 'ranges': where the base64 bytes are in the body (base64 is then empty). */
  ranges?: readonly ByteRange[];
  /** With ranges: the bytes there still contain JSON escapes (e.g. `\/`) to decode. */
  escaped?: boolean;
  thought: boolean;
  candidateIndex: number;
  /** With captureSignatures: the part's thoughtSignature, when Google sent one. */
  thoughtSignature?: string;
}

export interface ScanSummary {
  /** Response objects seen (1 for json, n for array/sse), a final truncated one included. */
  messages: number;
  /** The LAST one seen (streamed chunks are cumulative). */
  usageMetadata?: UsageMetadata;
  /** finishReason of each candidate, from the last message that had them (index order). */
  finishReasons: string[];
  finishMessage?: string;
  /** promptFeedback.blockReason */
  blockReason?: string;
  blockReasonMessage?: string;
  /** Non-thought inlineData parts whose mimeType starts with image/, across all messages. */
  imageCount: number;
  thoughtImageCount: number;
  /** Only when captureImages: non-thought and thought images, in order. */
  images: ScannedImage[];
  /** Non-thought text parts concatenated (for revised_prompt). */
  text: string;
  /** Thought (reasoning summary) text parts concatenated. */
  thoughtText: string;
  /**
   * With captureSignatures: the signature of every non-thought part that carried one, in answer
   * order, with the part's kind and its index: among the answer's final images for an image,
   * among the signed text parts for a text (a streamed text arrives as many unsigned deltas).
   */
  signedParts: Array<{ kind: 'text' | 'image'; index: number; signature: string }>;
  modelVersion?: string;
  responseId?: string;
  /** Google's verdict on the model (LEGACY, DEPRECATED, a retirementTime): the last one seen, string fields only. */
  modelStatus?: ModelStatus;
  /** A top-level error envelope (the whole body, an array element, or an SSE event with an `error` key). */
  error?: { code: number; message: string; status: string; details?: unknown[] };
  /** The bytes were not well-formed in the framing, or held no response at all; everything before the fault is still reported. */
  malformed: boolean;
  /** Total bytes seen. */
  bytes: number;
}

/** Documents up to this size are kept whole and JSON.parse-d (a text or tiny-image answer). */
export const SMALL_DOCUMENT_BYTES = 64 * 1024;

export class ResponseScanner {
  readonly #summary: ScanSummary = {
    messages: 0,
    finishReasons: [],
    imageCount: 0,
    thoughtImageCount: 0,
    images: [],
    text: '',
    thoughtText: '',
    signedParts: [],
    malformed: false,
    bytes: 0,
  };
  readonly #reader: AnswerReader;
  readonly #tokenizer: JsonTokenizer;
  readonly #sse: SseEventReader | undefined;
  /** 'sniff': an SSE body whose first byte has not arrived yet. */
  #mode: 'sniff' | 'json' | 'sse';
  #result: ScanSummary | undefined;
  #broken = false;
  /** Whether small documents may be kept and parsed whole. */
  readonly #parseSmall: boolean;
  readonly #smallLimit: number;
  /** The current document's bytes while it is still small; undefined once it streams to the tokenizer. */
  #small: Buffer[] | undefined;
  #smallBytes = 0;

  constructor(options: ScanOptions) {
    if (options.captureImages === 'ranges' && options.framing !== 'json') {
      throw new Error("captureImages 'ranges' needs framing 'json': offsets are body offsets only there");
    }
    this.#reader = new AnswerReader(this.#summary, options.captureImages ?? false, options.captureSignatures ?? false, options.onPart);
    this.#tokenizer = new JsonTokenizer(this.#reader);
    this.#mode = options.framing === 'sse' ? 'sniff' : 'json';
    this.#smallLimit = options.smallDocumentBytes ?? SMALL_DOCUMENT_BYTES;
    // With 'ranges', a small document's images come back as bytes rather than ranges (replayValue).
    this.#parseSmall = this.#smallLimit > 0;
    this.#small = this.#parseSmall && options.framing !== 'sse' ? [] : undefined;
    this.#sse =
      options.framing === 'sse'
        ? new SseEventReader({
            dataLine: (first) => this.#dataLine(first),
            data: (buf, start, end) => this.#feed(buf, start, end),
            eventEnd: () => this.#eventEnd(),
          })
        : undefined;
  }

  /** Never throws; costs a few memchr calls per chunk of a big string. The chunk must not be modified afterwards (images are slices of it). */
  write(chunk: Buffer): void {
    if (this.#result !== undefined) return;
    this.#summary.bytes += chunk.length;
    if (this.#broken) return;
    try {
      let start = 0;
      if (this.#mode === 'sniff') {
        while (start < chunk.length && (chunk[start] === 0x0d || chunk[start] === 0x0a)) start++;
        if (start === chunk.length) return;
        const c = chunk[start];
        this.#mode = c === 0x7b /* { */ || c === 0x5b /* [ */ ? 'json' : 'sse';
      }
      if (this.#mode === 'json') this.#feed(chunk, start, chunk.length);
      else this.#sse?.write(chunk, start);
    } catch {
      // The scanner only observes a relayed stream; a bug in it must not break the client's
      // answer. Stop reading and report what was learnt.
      this.#broken = true;
      this.#summary.malformed = true;
    }
  }

  /** The summary. Valid after a truncated body too (then malformed, unless the document had completed). Later calls return the same summary. */
  end(): ScanSummary {
    if (this.#result !== undefined) return this.#result;
    const summary = this.#summary;
    try {
      if (!this.#broken) {
        if (this.#mode === 'sse') this.#sse?.end();
        else if (this.#mode === 'json' && !this.#parseSmallDocument() && !this.#tokenizer.finish()) summary.malformed = true;
      }
    } catch {
      summary.malformed = true;
    }
    // An empty body, an HTML page read as SSE, or `[]`: no answer at all.
    if (summary.messages === 0) summary.malformed = true;
    this.#result = summary;
    return summary;
  }

  /** Bytes of the body this scanner holds: the string being captured and captured images. For tests of memory use. */
  retainedBytes(): number {
    let bytes = this.#tokenizer.retainedBytes() + this.#reader.pendingBytes();
    for (const image of this.#summary.images) if (!image.ranges) bytes += image.base64Length;
    return bytes;
  }

  /** Bytes of the current document: kept while it is small, else to the tokenizer. */
  #feed(buf: Buffer, start: number, end: number): void {
    const small = this.#small;
    if (small === undefined) return this.#tokenizer.write(buf, start, end);
    if (end > start) small.push(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    this.#smallBytes += end - start;
    if (this.#smallBytes > this.#smallLimit) this.#streamSmall();
  }

  /** The kept document turned out big (or multi-line SSE data): tokenize it from here on. */
  #streamSmall(): void {
    const small = this.#small;
    if (small === undefined) return;
    this.#small = undefined;
    this.#smallBytes = 0;
    for (const piece of small) this.#tokenizer.write(piece);
  }

  /**
   * Reads a kept document with JSON.parse. True when that settled it; false when there was no
   * kept document or JSON.parse rejected it (then it has gone to the tokenizer, to be finished).
   */
  #parseSmallDocument(): boolean {
    const small = this.#small;
    if (small === undefined) return false;
    let value: unknown;
    try {
      const text = small.length === 1 ? small[0]!.toString() : Buffer.concat(small, this.#smallBytes).toString();
      value = JSON.parse(text);
    } catch {
      this.#streamSmall();
      return false;
    }
    this.#small = undefined;
    this.#smallBytes = 0;
    if (!replayValue(value, undefined, this.#reader, 0)) this.#summary.malformed = true;
    return true;
  }

  #dataLine(first: boolean): void {
    if (first) {
      this.#tokenizer.reset();
      this.#reader.reset();
      if (this.#parseSmall) {
        this.#small = [];
        this.#smallBytes = 0;
      }
      return;
    }
    // Continuation lines are rare (Google sends one line per event): the tokenizer joins them.
    this.#streamSmall();
    if (this.#tokenizer.inString) {
      // Data lines are joined with "\n" (SSE spec); inside a JSON string that is a raw control
      // character, which JSON.parse (and so the client's SDK) rejects.
      this.#tokenizer.fail();
    } else {
      this.#tokenizer.write(JOIN_NEWLINE);
    }
  }

  #eventEnd(): void {
    // An event whose data is only whitespace carries nothing, and is not worth a fault.
    if (!this.#parseSmallDocument() && !this.#tokenizer.finish() && this.#tokenizer.started) this.#summary.malformed = true;
    this.#reader.reset();
  }
}

const JOIN_NEWLINE = Buffer.from('\n');

/** A member name as the tokenizer reports it: undefined when too long to keep. */
function keyName(name: string): string | undefined {
  return name.length * 3 <= MAX_KEY_BYTES || Buffer.byteLength(name) <= MAX_KEY_BYTES ? name : undefined;
}

/**
 * Hands a JSON.parse-d value to a tokenizer handler as the tokenizer would have, in document
 * order. False when the value nests deeper than the tokenizer allows: like the tokenizer, it
 * stops there, after reporting everything before that point.
 */
function replayValue(value: unknown, key: JsonKey, handler: JsonHandler, depth: number): boolean {
  if (typeof value === 'string') {
    const capture = handler.stringCapture(key);
    if (capture === 'text') handler.text(key, value);
    // A parsed document has no byte offsets: an image asked for as a range is kept as its bytes
    // (a small document is small, and JSON.parse has already decoded any escapes).
    else if (capture === 'raw' || capture === 'range') {
      const bytes = Buffer.from(value);
      handler.raw(key, [bytes], bytes.length);
    }
    return true;
  }
  if (value === null || typeof value !== 'object') {
    handler.scalar(key, value as number | boolean | null);
    return true;
  }
  if (depth >= MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    handler.openContainer(key, true);
    for (let i = 0; i < value.length; i++) if (!replayValue(value[i], i, handler, depth + 1)) return false;
  } else {
    handler.openContainer(key, false);
    const record = value as Record<string, unknown>;
    for (const name in record) if (!replayValue(record[name], keyName(name), handler, depth + 1)) return false;
  }
  handler.closeContainer();
  return true;
}

// ---- reading responses ------------------------------------------------------------------------

interface MessageState {
  /** finishReason by candidate index, once this message has any. */
  finishes: Map<number, string> | undefined;
}

interface CandidateFrame {
  kind: 'candidate';
  message: MessageState;
  /** Position in `candidates`, the index when the candidate has no `index` field. */
  position: number;
  index: number | undefined;
  finishReason: string | undefined;
  finishMessage: string | undefined;
  /** Captured images of this candidate: their candidateIndex is known only once `index` (serialized after `content`) has been read. */
  images: ScannedImage[];
}

interface PartFrame {
  kind: 'part';
  candidate: CandidateFrame;
  text: string | undefined;
  signature: string | undefined;
  thought: boolean;
  mimeType: string | undefined;
  data: Buffer[] | undefined;
  ranges?: ByteRange[];
  escaped?: boolean;
  dataLength: number;
}

interface BuildFrame {
  kind: 'build';
  key: JsonKey;
  value: Record<string, unknown> | unknown[];
}

/** What each open container is, as far as the summary cares. */
type Frame =
  | { kind: 'skip' }
  | { kind: 'messages' }
  | { kind: 'message'; message: MessageState }
  | { kind: 'candidates'; message: MessageState }
  | CandidateFrame
  | { kind: 'content'; candidate: CandidateFrame }
  | { kind: 'parts'; candidate: CandidateFrame }
  | PartFrame
  | { kind: 'inline-data'; part: PartFrame }
  /** A subtree kept whole as JS values: usageMetadata, promptFeedback, error, modelStatus. */
  | BuildFrame;

const SKIP: Frame = { kind: 'skip' };

/** Turns tokenizer events into the summary, keeping one frame per open container. */
class AnswerReader implements JsonHandler {
  readonly #summary: ScanSummary;
  readonly #captureImages: boolean | 'ranges';
  readonly #captureSignatures: boolean;
  readonly #onPart: ((part: ScannedPart) => void) | undefined;
  /** Non-thought image parts and signed text parts seen so far: the index a signature is reported at. */
  #imageParts = 0;
  #signedTexts = 0;
  #frames: Frame[] = [];

  constructor(summary: ScanSummary, captureImages: boolean | 'ranges', captureSignatures = false, onPart?: (part: ScannedPart) => void) {
    this.#summary = summary;
    this.#captureImages = captureImages;
    this.#captureSignatures = captureSignatures;
    this.#onPart = onPart;
  }

  /** A new document starts (the next SSE event): forget a half-read message. */
  reset(): void {
    this.#frames = [];
  }

  /** Image bytes of parts still open. */
  pendingBytes(): number {
    let bytes = 0;
    for (const frame of this.#frames) if (frame.kind === 'part' && frame.data && !frame.ranges) bytes += frame.dataLength;
    return bytes;
  }

  openContainer(key: JsonKey, isArray: boolean): void {
    this.#frames.push(this.#childFrame(this.#frames[this.#frames.length - 1], key, isArray));
  }

  closeContainer(): void {
    const frame = this.#frames.pop();
    if (frame?.kind === 'candidate') this.#endCandidate(frame);
    else if (frame?.kind === 'part') this.#endPart(frame);
    else if (frame?.kind === 'build') this.#assign(frame.key, frame.value);
  }

  stringCapture(key: JsonKey): StringCapture {
    const frame = this.#frames[this.#frames.length - 1];
    switch (frame?.kind) {
      case undefined:
      case 'messages':
        this.#summary.malformed = true; // a response is an object
        return 'skip';
      case 'build':
        return 'text';
      case 'message':
        return key === 'modelVersion' || key === 'responseId' ? 'text' : 'skip';
      case 'candidate':
        return key === 'finishReason' || key === 'finishMessage' ? 'text' : 'skip';
      case 'part':
        return key === 'text' || (key === 'thoughtSignature' && this.#captureSignatures) ? 'text' : 'skip';
      case 'inline-data':
        if (key === 'mimeType') return 'text';
        if (key !== 'data' || !this.#captureImages) return 'skip';
        return this.#captureImages === 'ranges' ? 'range' : 'raw';
      default:
        return 'skip';
    }
  }

  text(key: JsonKey, value: string | undefined): void {
    if (value !== undefined) this.#assign(key, value);
  }

  scalar(key: JsonKey, value: number | boolean | null): void {
    const kind = this.#frames[this.#frames.length - 1]?.kind;
    if (kind === undefined || kind === 'messages') this.#summary.malformed = true;
    else this.#assign(key, value);
  }

  range(key: JsonKey, ranges: ByteRange[], byteLength: number, escaped: boolean): void {
    const frame = this.#frames[this.#frames.length - 1];
    if (frame?.kind === 'inline-data' && key === 'data') {
      frame.part.data = [];
      frame.part.ranges = ranges;
      frame.part.escaped = escaped;
      frame.part.dataLength = byteLength;
    }
  }

  raw(key: JsonKey, pieces: Buffer[], byteLength: number): void {
    const frame = this.#frames[this.#frames.length - 1];
    if (frame?.kind === 'inline-data' && key === 'data') {
      frame.part.data = pieces;
      frame.part.dataLength = byteLength;
    }
  }

  #childFrame(parent: Frame | undefined, key: JsonKey, isArray: boolean): Frame {
    switch (parent?.kind) {
      case undefined:
        return isArray ? { kind: 'messages' } : this.#beginMessage();
      case 'messages':
        if (!isArray) return this.#beginMessage();
        this.#summary.malformed = true;
        return SKIP;
      case 'message':
        if (key === 'candidates' && isArray) return { kind: 'candidates', message: parent.message };
        if (key === 'usageMetadata' || key === 'promptFeedback' || key === 'error' || key === 'modelStatus') return { kind: 'build', key, value: isArray ? [] : {} };
        return SKIP;
      case 'candidates':
        if (isArray) return SKIP;
        return {
          kind: 'candidate',
          message: parent.message,
          position: typeof key === 'number' ? key : 0,
          index: undefined,
          finishReason: undefined,
          finishMessage: undefined,
          images: [],
        };
      case 'candidate':
        return key === 'content' && !isArray ? { kind: 'content', candidate: parent } : SKIP;
      case 'content':
        return key === 'parts' && isArray ? { kind: 'parts', candidate: parent.candidate } : SKIP;
      case 'parts':
        if (isArray) return SKIP;
        return { kind: 'part', candidate: parent.candidate, text: undefined, signature: undefined, thought: false, mimeType: undefined, data: undefined, dataLength: 0 };
      case 'part':
        return key === 'inlineData' && !isArray ? { kind: 'inline-data', part: parent } : SKIP;
      case 'build':
        return { kind: 'build', key, value: isArray ? [] : {} };
      default:
        return SKIP;
    }
  }

  #beginMessage(): Frame {
    this.#summary.messages++;
    return { kind: 'message', message: { finishes: undefined } };
  }

  /** A complete value under `key` in the innermost open container. */
  #assign(key: JsonKey, value: unknown): void {
    const frame = this.#frames[this.#frames.length - 1];
    const summary = this.#summary;
    switch (frame?.kind) {
      case 'build':
        if (Array.isArray(frame.value)) frame.value.push(value);
        else if (typeof key === 'string' && key !== '__proto__') frame.value[key] = value;
        return;
      case 'message':
        if (key === 'modelVersion' && typeof value === 'string') summary.modelVersion = value;
        else if (key === 'responseId' && typeof value === 'string') summary.responseId = value;
        else if (key === 'usageMetadata' && isRecord(value)) summary.usageMetadata = toUsageMetadata(value);
        else if (key === 'promptFeedback' && isRecord(value)) {
          if (typeof value['blockReason'] === 'string') summary.blockReason = value['blockReason'];
          if (typeof value['blockReasonMessage'] === 'string') summary.blockReasonMessage = value['blockReasonMessage'];
        } else if (key === 'error' && isRecord(value)) summary.error = toGoogleError(value);
        else if (key === 'modelStatus' && isRecord(value)) summary.modelStatus = toModelStatus(value);
        return;
      case 'candidate':
        if (key === 'finishReason' && typeof value === 'string') frame.finishReason = value;
        else if (key === 'finishMessage' && typeof value === 'string') frame.finishMessage = value;
        else if (key === 'index' && typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) frame.index = value;
        return;
      case 'part':
        if (key === 'text' && typeof value === 'string') frame.text = value;
        else if (key === 'thoughtSignature' && typeof value === 'string') frame.signature = value;
        else if (key === 'thought') frame.thought = value === true;
        return;
      case 'inline-data':
        if (key === 'mimeType' && typeof value === 'string') frame.part.mimeType = value;
        return;
      default:
        return;
    }
  }

  /** Google serializes `thought` after `inlineData`, so a part is judged only when it closes. */
  #endPart(part: PartFrame): void {
    const summary = this.#summary;
    const candidateIndex = part.candidate.index ?? part.candidate.position;
    let image: ScannedImage | undefined;
    if (part.mimeType?.startsWith('image/')) {
      if (part.thought) summary.thoughtImageCount++;
      else summary.imageCount++;
      if (part.data) {
        image = {
          mimeType: part.mimeType,
          base64: part.data,
          base64Length: part.dataLength,
          ...(part.ranges ? { ranges: part.ranges, escaped: part.escaped ?? false } : {}),
          thought: part.thought,
          candidateIndex,
          ...(part.signature !== undefined ? { thoughtSignature: part.signature } : {}),
        };
        summary.images.push(image);
        part.candidate.images.push(image);
      }
      if (!part.thought) {
        if (part.signature !== undefined) summary.signedParts.push({ kind: 'image', index: this.#imageParts, signature: part.signature });
        this.#imageParts++;
      }
    } else if (part.text !== undefined && !part.thought && part.signature !== undefined) {
      // A streamed text arrives as many parts (deltas); only the signed ones are numbered.
      summary.signedParts.push({ kind: 'text', index: this.#signedTexts++, signature: part.signature });
    }
    if (part.text !== undefined && !part.thought) summary.text += part.text;
    if (part.text !== undefined && part.thought) summary.thoughtText += part.text;
    this.#onPart?.({
      candidateIndex,
      thought: part.thought,
      ...(part.text !== undefined ? { text: part.text } : {}),
      ...(image ? { image } : {}),
      ...(part.signature !== undefined ? { thoughtSignature: part.signature } : {}),
    });
  }

  #endCandidate(candidate: CandidateFrame): void {
    const index = candidate.index ?? candidate.position;
    for (const image of candidate.images) image.candidateIndex = index;
    if (candidate.finishReason !== undefined) {
      const finishes = (candidate.message.finishes ??= new Map());
      finishes.set(index, candidate.finishReason);
      this.#summary.finishReasons = [...finishes].sort((a, b) => a[0] - b[0]).map(([, reason]) => reason);
    }
    if (candidate.finishMessage !== undefined) this.#summary.finishMessage = candidate.finishMessage;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const COUNT_FIELDS = ['promptTokenCount', 'candidatesTokenCount', 'totalTokenCount', 'thoughtsTokenCount', 'cachedContentTokenCount', 'toolUsePromptTokenCount'] as const;
const DETAIL_FIELDS = ['promptTokensDetails', 'candidatesTokensDetails', 'cacheTokensDetails', 'toolUsePromptTokensDetails'] as const;

/**
 * usageMetadata as Google sent it (the ledger keeps it verbatim, fields unknown today included),
 * minus known fields of the wrong type, so that the meter can trust the declared types.
 */
function toUsageMetadata(value: Record<string, unknown>): UsageMetadata {
  const usage: Record<string, unknown> = { ...value };
  for (const field of COUNT_FIELDS) {
    const count = usage[field];
    if (count !== undefined && !(typeof count === 'number' && Number.isSafeInteger(count) && count >= 0)) delete usage[field];
  }
  for (const field of DETAIL_FIELDS) {
    const details = usage[field];
    if (details === undefined) continue;
    if (Array.isArray(details)) usage[field] = details.filter(isModalityTokenCount);
    else delete usage[field];
  }
  if (usage['serviceTier'] !== undefined && typeof usage['serviceTier'] !== 'string') delete usage['serviceTier'];
  return usage as UsageMetadata;
}

function isModalityTokenCount(value: unknown): value is ModalityTokenCount {
  return (
    isRecord(value) &&
    (value['modality'] === undefined || typeof value['modality'] === 'string') &&
    (value['tokenCount'] === undefined || (typeof value['tokenCount'] === 'number' && Number.isSafeInteger(value['tokenCount'])))
  );
}

/** modelStatus with its known fields of the right type only; unknown fields are dropped (nothing keeps it verbatim). */
function toModelStatus(value: Record<string, unknown>): ModelStatus {
  const status: ModelStatus = {};
  for (const field of ['modelStage', 'retirementTime', 'message'] as const) {
    const v = value[field];
    if (typeof v === 'string') status[field] = v;
  }
  return status;
}

function toGoogleError(value: Record<string, unknown>): NonNullable<ScanSummary['error']> {
  const error: NonNullable<ScanSummary['error']> = {
    code: typeof value['code'] === 'number' ? value['code'] : 0,
    message: typeof value['message'] === 'string' ? value['message'] : '',
    status: typeof value['status'] === 'string' ? value['status'] : '',
  };
  if (Array.isArray(value['details'])) error.details = value['details'];
  return error;
}
