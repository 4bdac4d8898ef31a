/**
 * Gemini answers serialized the way Google does (google-api.md §3, §5): non-streaming bodies
 * pretty-printed with 2-space indents and a trailing newline, SSE events as compact JSON with
 * `": "` after keys and bare `,` between members, each event ended by "\r\n\r\n"; `<`, `>` and
 * `&` in strings escaped as \u003c, \u003e, \u0026.
 */
import { createHash } from 'node:crypto';

/** Deterministic pseudo-random base64 of `byteLength` bytes (standard alphabet, padded). */
export function fakeBase64(seed: string, byteLength: number): string {
  const bytes = Buffer.alloc(byteLength);
  for (let offset = 0, n = 0; offset < byteLength; n++) {
    offset += createHash('sha256').update(`${seed}:${n}`).digest().copy(bytes, offset);
  }
  return bytes.toString('base64');
}

/** Escapes `<`, `>` and `&` as Google's JSON writer does; they occur only inside strings. */
export function escapeLikeGoogle(json: string): string {
  return json.replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function prettyLikeGoogle(value: unknown): string {
  return `${escapeLikeGoogle(JSON.stringify(value, null, 2))}\n`;
}

/** Compact JSON with `": "` after keys and bare `,`, as in captured SSE chunks. */
export function compactLikeGoogle(value: unknown): string {
  const write = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(write).join(',')}]`;
    if (typeof v === 'object' && v !== null) {
      return `{${Object.entries(v)
        .map(([k, member]) => `${JSON.stringify(k)}: ${write(member)}`)
        .join(',')}}`;
    }
    return JSON.stringify(v);
  };
  return escapeLikeGoogle(write(value));
}

export function sseLikeGoogle(events: unknown[]): string {
  return events.map((e) => `data: ${compactLikeGoogle(e)}\r\n\r\n`).join('');
}

/** streamGenerateContent without alt: one array, elements pretty-printed (separators unverified). */
export function jsonArrayLikeGoogle(events: unknown[]): string {
  return `[${events.map((e) => escapeLikeGoogle(JSON.stringify(e, null, 2))).join(',\r\n')}]`;
}

export const MODEL_VERSION = 'gemini-3-pro-image-preview';
export const RESPONSE_ID = 'CdDHapDnNJiyqtsP38a-uQc';
export const THOUGHT_TEXT = '**Composing the scene** I will put the cat <in> a suit & helmet…';
/** Has \u003c escapes, a 4-byte UTF-8 character and multi-byte ones. */
export const FINAL_TEXT_START = 'Here is your astronaut cat <b>café</b> ';
export const FINAL_TEXT_END = '🚀 & 日本語';
export const FINAL_TEXT = FINAL_TEXT_START + FINAL_TEXT_END;
export const THOUGHT_IMAGE = fakeBase64('thought', 401);
export const FINAL_IMAGE = fakeBase64('final', 430);
export const SIGNATURE = fakeBase64('signature', 60);

export const FINAL_USAGE = {
  promptTokenCount: 1139,
  candidatesTokenCount: 1127,
  totalTokenCount: 2466,
  thoughtsTokenCount: 200,
  promptTokensDetails: [
    { modality: 'TEXT', tokenCount: 19 },
    { modality: 'IMAGE', tokenCount: 1120 },
  ],
  candidatesTokensDetails: [
    { modality: 'TEXT', tokenCount: 7 },
    { modality: 'IMAGE', tokenCount: 1120 },
  ],
  serviceTier: 'standard',
};

/** A Gemini 3 Pro Image answer: thought text, thought interim image, final text, final image. */
export const GEMINI3_ANSWER = {
  candidates: [
    {
      content: {
        parts: [
          { text: THOUGHT_TEXT, thought: true },
          { inlineData: { mimeType: 'image/png', data: THOUGHT_IMAGE }, thought: true },
          { text: FINAL_TEXT, thoughtSignature: SIGNATURE },
          { inlineData: { mimeType: 'image/png', data: FINAL_IMAGE }, thoughtSignature: SIGNATURE },
        ],
        role: 'model',
      },
      finishReason: 'STOP',
      index: 0,
    },
  ],
  usageMetadata: FINAL_USAGE,
  modelVersion: MODEL_VERSION,
  responseId: RESPONSE_ID,
};

const EARLY_USAGE = {
  promptTokenCount: 1139,
  totalTokenCount: 1339,
  thoughtsTokenCount: 200,
  promptTokensDetails: FINAL_USAGE.promptTokensDetails,
};

const chunk = (parts: unknown[], extra: Record<string, unknown> = {}, usage: unknown = EARLY_USAGE) => ({
  candidates: [{ content: { parts, role: 'model' }, ...extra, index: 0 }],
  usageMetadata: usage,
  modelVersion: MODEL_VERSION,
  responseId: RESPONSE_ID,
});

/** The same answer streamed: thoughts first, text as deltas, each image whole, usage cumulative. */
export const GEMINI3_STREAM = [
  chunk([{ text: THOUGHT_TEXT, thought: true }]),
  chunk([{ inlineData: { mimeType: 'image/png', data: THOUGHT_IMAGE }, thought: true }]),
  chunk([{ text: FINAL_TEXT_START, thoughtSignature: SIGNATURE }]),
  chunk(
    [{ text: FINAL_TEXT_END }, { inlineData: { mimeType: 'image/png', data: FINAL_IMAGE }, thoughtSignature: SIGNATURE }],
    { finishReason: 'STOP' },
    FINAL_USAGE,
  ),
];
