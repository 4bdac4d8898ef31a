/**
 * What the bench sends: three faces by five bodies, and the request each target gets for them.
 * Answer sizes are base64 lengths of the image (contract §10: about 1.5 MB at 1K, 6 MB at 2K,
 * 20 MB at 4K); the mock picks one by the request's imageSize and answers a 1x1 PNG without one.
 * A fourth face, OpenAI chat completions, is measured on request (--faces chat, or --peers, for
 * which it is the one route a peer gateway relays to Google).
 */
import { randomBytes } from 'node:crypto';
import { paddedPng } from '../test/mock-google/images.js';
import type { RequestSpec } from './load.js';

/** `openai` is the images face (/v1/images/generations, /v1/images/edits); `chat` is /v1/chat/completions. */
export type Face = 'generateContent' | 'streamGenerateContent' | 'openai' | 'chat';
export type BodyKind = 'tiny' | 'edit' | '1K' | '2K' | '4K';
/** `portkey`: Portkey's open-source gateway, measured with --peers. */
export type Target = 'direct' | 'floor' | 'gateway' | 'portkey';

/** The faces measured by default. */
export const FACES: readonly Face[] = ['generateContent', 'streamGenerateContent', 'openai'];
/** Every face --faces accepts, in print order: chat is measured only when asked for (or with --peers). */
export const ALL_FACES: readonly Face[] = [...FACES, 'chat'];
/** The mock speaks Google's API only: these faces are compared with the native request's direct and floor figures. */
export function isOpenAiFace(face: Face): face is 'openai' | 'chat' {
  return face === 'openai' || face === 'chat';
}
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

  /** The chat completion asking for one image of the body's size; an edit sends its three references as data URLs. */
  chatBody(body: BodyKind): Buffer {
    const content =
      body === 'edit'
        ? [{ type: 'text', text: PROMPT }, ...this.#pngs.map((png) => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } }))]
        : PROMPT;
    const json = {
      model: MODEL,
      messages: [{ role: 'user', content }],
      modalities: ['image'],
      ...(body === 'tiny' || body === 'edit' ? {} : { image_config: { image_size: body } }),
    };
    return Buffer.from(JSON.stringify(json));
  }

  /**
   * The request for one face, body and target. The floor forwards headers, so it gets Google's key
   * as direct does. A peer (portkey) is told where Google is: `upstreamUrl`, the mock's.
   */
  request(face: Face, body: BodyKind, target: Target, upstreamUrl?: string): RequestSpec {
    if (target === 'portkey') {
      if (upstreamUrl === undefined) throw new Error('a request to portkey needs the upstream (mock) URL');
      return this.#portkeyRequest(face, body, upstreamUrl);
    }
    if (face === 'chat') {
      if (target !== 'gateway') throw new Error('the mock has no OpenAI route: OpenAI rows compare against native requests');
      return { method: 'POST', path: '/v1/chat/completions', headers: { authorization: `Bearer ${TENANT_KEY}`, 'content-type': 'application/json' }, body: this.chatBody(body) };
    }
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
    return {
      method: 'POST',
      path: nativePath(face),
      headers: { 'content-type': 'application/json', 'x-goog-api-key': target === 'gateway' ? TENANT_KEY : GOOGLE_KEY },
      body: this.nativeBody(body),
    };
  }

  /**
   * Portkey's gateway with provider google, pointed at the mock by its custom-host header and
   * holding Google's key (it puts it in the URL as ?key=). Each face's request is the one a
   * client of that face would send it: chat completions (its route for Gemini), images
   * generations and edits on its OpenAI paths, and a native request on its /v1/ pass-through
   * (what Google's SDK sends with the base URL set to PORTKEY/v1). Strict OpenAI compliance is
   * turned off: in its default strict mode Portkey drops the image from a Gemini chat answer.
   */
  #portkeyRequest(face: Face, body: BodyKind, upstreamUrl: string): RequestSpec {
    const headers: Record<string, string> = {
      authorization: `Bearer ${GOOGLE_KEY}`,
      'x-portkey-provider': 'google',
      'x-portkey-custom-host': upstreamUrl,
      'x-portkey-strict-open-ai-compliance': 'false',
    };
    if (face === 'chat') return { method: 'POST', path: '/v1/chat/completions', headers: { ...headers, 'content-type': 'application/json' }, body: this.chatBody(body) };
    if (face === 'openai') {
      const spec = this.request('openai', body, 'gateway');
      return { ...spec, headers: { ...headers, 'content-type': spec.headers['content-type']! } };
    }
    return {
      method: 'POST',
      path: `/v1${nativePath(face)}`,
      headers: { ...headers, 'content-type': 'application/json', 'x-goog-api-key': GOOGLE_KEY },
      body: this.nativeBody(body),
    };
  }
}

function nativePath(face: 'generateContent' | 'streamGenerateContent'): string {
  const action = face === 'generateContent' ? 'generateContent' : 'streamGenerateContent?alt=sse';
  return `/v1beta/models/${MODEL}:${action}`;
}
