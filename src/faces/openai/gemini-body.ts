import type { GenerateContentRequest } from '../../gemini/types.js';
import { randomHex } from '../../random/pool.js';
import type { InlineImage } from './image-inputs.js';

/** One part of a turn the OpenAI face sends: text or an image, with the signature Google gave it. */
export type TurnPart = { text: string; thoughtSignature?: string } | { image: InlineImage; thoughtSignature?: string };

export interface Turn {
  role: 'user' | 'model';
  parts: TurnPart[];
}

const QUOTE = Buffer.from('"');

export interface GeminiBodyInput {
  contents: readonly Turn[];
  system?: string;
  generationConfig: Record<string, unknown>;
}


/**
 * A generateContent body from turns (chat messages, Responses input). The structure goes
 * through JSON.stringify with a slot for each image's base64, which is then spliced in as
 * latin1 bytes: images (up to 14, tens of MB) are copied once into the body, never escaped or
 * built into a second big string. Base64 needs no escaping. Also returns the body's skeleton
 * (images without their data) for the estimate admission needs.
 */
export function encodeGeminiBody(input: GeminiBodyInput): { body: Buffer; skeleton: GenerateContentRequest } {
  // Random per body: a client's text can never be mistaken for a slot.
  const SLOT = `@@nanogate-image-${randomHex(8)}@@`;
  const images: string[] = [];
  const contents = input.contents.map((turn) => ({
    role: turn.role,
    parts: turn.parts.map((part) => {
      const signature = part.thoughtSignature !== undefined ? { thoughtSignature: part.thoughtSignature } : {};
      if ('text' in part) return { text: part.text, ...signature };
      images.push(part.image.base64);
      return { inlineData: { mimeType: part.image.mimeType, data: SLOT }, ...signature };
    }),
  }));
  const skeleton: GenerateContentRequest = {
    contents,
    ...(input.system ? { systemInstruction: { parts: [{ text: input.system }] } } : {}),
    generationConfig: input.generationConfig,
  };
  const pieces = JSON.stringify(skeleton).split(`"${SLOT}"`);
  const out: Buffer[] = [];
  pieces.forEach((piece, i) => {
    if (i > 0) out.push(QUOTE, Buffer.from(images[i - 1]!, 'latin1'), QUOTE);
    out.push(Buffer.from(piece, 'utf8'));
  });
  return { body: Buffer.concat(out), skeleton };
}
