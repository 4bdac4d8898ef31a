import { describe, expect, it } from 'vitest';
import { GOOGLE_KEY, MODEL, RequestBook, TENANT_KEY } from '../../bench/scenarios.js';

const MOCK = 'http://127.0.0.1:9999';
const book = new RequestBook();
const bodyOf = (b: Buffer) => JSON.parse(b.toString('utf8')) as Record<string, unknown>;

describe('bench requests', () => {
  it('chat on nanogate: the tenant key, one image of the body size asked for', () => {
    const spec = book.request('chat', '4K', 'gateway');
    expect(spec.path).toBe('/v1/chat/completions');
    expect(spec.headers).toEqual({ authorization: `Bearer ${TENANT_KEY}`, 'content-type': 'application/json' });
    expect(bodyOf(spec.body)).toEqual({
      model: MODEL,
      messages: [{ role: 'user', content: expect.any(String) }],
      modalities: ['image'],
      image_config: { image_size: '4K' },
    });
    expect(bodyOf(book.request('chat', 'tiny', 'gateway').body)).not.toHaveProperty('image_config');
  });

  it('a chat edit sends the three reference images as data URLs', () => {
    const body = bodyOf(book.chatBody('edit')) as { messages: Array<{ content: Array<{ type: string; image_url?: { url: string } }> }> };
    const parts = body.messages[0]!.content;
    expect(parts.map((p) => p.type)).toEqual(['text', 'image_url', 'image_url', 'image_url']);
    expect(parts[1]!.image_url!.url).toMatch(/^data:image\/png;base64,iVBOR/);
  });

  it('portkey: provider google at the mock, Google key as Bearer, strict compliance off, the same chat body as nanogate', () => {
    const spec = book.request('chat', '1K', 'portkey', MOCK);
    expect(spec.path).toBe('/v1/chat/completions');
    expect(spec.headers).toEqual({
      authorization: `Bearer ${GOOGLE_KEY}`,
      'x-portkey-provider': 'google',
      'x-portkey-custom-host': MOCK,
      'x-portkey-strict-open-ai-compliance': 'false',
      'content-type': 'application/json',
    });
    expect(spec.body.equals(book.request('chat', '1K', 'gateway').body)).toBe(true);
  });

  it('portkey images and native: the OpenAI images body, and the native body on its /v1/ pass-through', () => {
    const images = book.request('openai', '4K', 'portkey', MOCK);
    expect(images.path).toBe('/v1/images/generations');
    expect(images.headers['x-portkey-custom-host']).toBe(MOCK);
    expect(images.body.equals(book.request('openai', '4K', 'gateway').body)).toBe(true);
    const edits = book.request('openai', 'edit', 'portkey', MOCK);
    expect(edits.path).toBe('/v1/images/edits');
    expect(edits.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const native = book.request('generateContent', '1K', 'portkey', MOCK);
    expect(native.path).toBe(`/v1/v1beta/models/${MODEL}:generateContent`);
    expect(native.headers['x-goog-api-key']).toBe(GOOGLE_KEY);
    expect(native.body.equals(book.nativeBody('1K'))).toBe(true);
    expect(book.request('streamGenerateContent', 'tiny', 'portkey', MOCK).path).toBe(`/v1/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`);
  });

  it('refuses what cannot be sent: portkey without the mock URL, chat straight to the mock', () => {
    expect(() => book.request('chat', 'tiny', 'portkey')).toThrow(/upstream/);
    expect(() => book.request('chat', 'tiny', 'direct')).toThrow(/no OpenAI route/);
  });

  it('the default requests are unchanged by the peer', () => {
    const native = book.request('generateContent', 'tiny', 'floor');
    expect(native.path).toBe(`/v1beta/models/${MODEL}:generateContent`);
    expect(native.headers).toEqual({ 'content-type': 'application/json', 'x-goog-api-key': GOOGLE_KEY });
    expect(book.request('streamGenerateContent', 'tiny', 'gateway').headers['x-goog-api-key']).toBe(TENANT_KEY);
  });
});
