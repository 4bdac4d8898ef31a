/**
 * What the bench sends: three faces by five bodies, and the request each target gets for them.
 * Answer sizes are base64 lengths of the image (contract §10: about 1.5 MB at 1K, 6 MB at 2K,
 * 20 MB at 4K); the mock picks one by the request's imageSize and answers a 1x1 PNG without one.
 */
import { randomBytes } from 'node:crypto';
import { paddedPng } from '../test/mock-google/images.js';
import type { RequestSpec } from './load.js';

export type Face = 'generateContent' | 'streamGenerateContent' | 'openai';
export type BodyKind = 'tiny' | 'edit' | '1K' | '2K' | '4K';
export type Target = 'direct' | 'floor' | 'gateway';

export const FACES: readonly Face[] = ['generateContent', 'streamGenerateContent', 'openai'];
/** Smallest first: memory a process keeps after a big segment would inflate a small one's peak. */
export const BODIES: readonly BodyKind[] = ['tiny', 'edit', '1K', '2K', '4K'];

export const MODEL = 'gemini-3-pro-image';
export const GOOGLE_KEY = 'bench-google-key';
export const TENANT_KEY = 'bench-tenant-key';

export const ANSWER_BASE64_BYTES = { '1K': 1_500_000, '2K': 6_000_000, '4K': 20_000_000 } as const;
/** Three reference images of 1 MB each (raw PNG bytes; a third more as base64 inlineData). */
export const EDIT_IMAGES = 3;
export const EDIT_IMAGE_BYTES = 1_000_000;

const PROMPT = 'A ripe banana on a walnut desk, soft morning light, watercolor';

/** Concurrency per body for the throughput segments (tiny and 1K answers are the common case). */
export const CONCURRENCY: Readonly<Record<BodyKind, number>> = { tiny: 16, edit: 4, '1K': 16, '2K': 8, '4K': 8 };
/** The memory scenario: this many 4K answers in flight at once. */
export const RSS_CONCURRENCY = 64;

/** An answer shorter than this is a broken relay, not a fast one. */
export function minAnswerBytes(body: BodyKind): number {
  return body === 'tiny' || body === 'edit' ? 100 : ANSWER_BASE64_BYTES[body];
}

function editPngs(): Buffer[] {
  // 4/3 base64 characters per byte: paddedPng sizes by base64 length.
  const base64Length = Math.ceil(EDIT_IMAGE_BYTES / 3) * 4;
  return Array.from({ length: EDIT_IMAGES }, (_, i) => Buffer.from(paddedPng(base64Length, 7 + i).base64, 'base64'));
}

/** Bodies built once per run: the 20 MB-answer requests are small, the edit uploads are not. */
export class RequestBook {
  readonly #pngs = editPngs();
  readonly #native = new Map<BodyKind, Buffer>();
  #multipart: { body: Buffer; contentType: string } | undefined;

  nativeBody(body: BodyKind): Buffer {
    let bytes = this.#native.get(body);
    if (bytes === undefined) {
      const parts: unknown[] = [{ text: PROMPT }];
      if (body === 'edit') for (const png of this.#pngs) parts.push({ inlineData: { mimeType: 'image/png', data: png.toString('base64') } });
      const imageConfig = body === 'tiny' || body === 'edit' ? {} : { imageConfig: { imageSize: body } };
      const request = { contents: [{ role: 'user', parts }], generationConfig: { responseModalities: ['IMAGE'], ...imageConfig } };
      bytes = Buffer.from(JSON.stringify(request));
      this.#native.set(body, bytes);
    }
    return bytes;
  }

  #editsMultipart(): { body: Buffer; contentType: string } {
    if (this.#multipart) return this.#multipart;
    const boundary = `----nanogate-bench-${randomBytes(8).toString('hex')}`;
    const field = (name: string, value: string) => Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
    const chunks: Buffer[] = [field('model', MODEL), field('prompt', PROMPT), field('n', '1')];
    this.#pngs.forEach((png, i) => {
      chunks.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="image[]"; filename="ref-${i}.png"\r\ncontent-type: image/png\r\n\r\n`), png, Buffer.from('\r\n'));
    });
    chunks.push(Buffer.from(`--${boundary}--\r\n`));
    this.#multipart = { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
    return this.#multipart;
  }

  /** The request for one face, body and target. The floor forwards headers, so it gets Google's key as direct does. */
  request(face: Face, body: BodyKind, target: Target): RequestSpec {
    if (face === 'openai') {
      if (target !== 'gateway') throw new Error('the mock has no OpenAI route: OpenAI rows compare against native requests');
      const auth = { authorization: `Bearer ${TENANT_KEY}` };
      if (body === 'edit') {
        const form = this.#editsMultipart();
        return { method: 'POST', path: '/v1/images/edits', headers: { ...auth, 'content-type': form.contentType }, body: form.body };
      }
      const json = { model: MODEL, prompt: PROMPT, n: 1, response_format: 'b64_json', ...(body === 'tiny' ? {} : { size: body }) };
      return { method: 'POST', path: '/v1/images/generations', headers: { ...auth, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(json)) };
    }
    const action = face === 'generateContent' ? 'generateContent' : 'streamGenerateContent?alt=sse';
    return {
      method: 'POST',
      path: `/v1beta/models/${MODEL}:${action}`,
      headers: { 'content-type': 'application/json', 'x-goog-api-key': target === 'gateway' ? TENANT_KEY : GOOGLE_KEY },
      body: this.nativeBody(body),
    };
  }
}
