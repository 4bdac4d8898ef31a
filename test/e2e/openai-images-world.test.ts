/**
 * #14.3-#14.7 on the images routes, with the real clients: streaming with partial images (the
 * `openai` SDK), hosted URLs (the SDK, LangChain's DallEAPIWrapper with its defaults, a clock
 * that moves past the hour), OpenAI's model names, sizes at the price of their pixels,
 * output_format conversion (sharp), transparent backgrounds, image_url inputs on edits, and
 * answers without an image that the SDK must not retry.
 */
import { existsSync, readdirSync } from 'node:fs';
import { DallEAPIWrapper } from '@langchain/openai';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { ManualClock } from '../../src/time/clock.js';
import { GOOGLE_KEY, TENANT_KEY } from '../support/gateway-harness.js';
import { generationBodies, shippedAliases, startWorld, type World } from '../support/openai-world.js';

let mock: MockGoogle;
let gw: World;
const clock = new ManualClock('2026-11-28T12:00:00Z');

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
  gw = await startWorld({ upstreamUrl: mock.url, clock });
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
});
beforeEach(() => {
  mock.reset();
  mock.setInterimImages(0);
});

const client = (maxRetries = 0) => new OpenAI({ apiKey: TENANT_KEY, baseURL: `${gw.url}/v1`, maxRetries });
const pngBytes = () => Buffer.from(mock.imageBase64(), 'base64');

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (e instanceof OpenAI.APIError) return e;
  throw new Error(`expected an API error, got ${String(e)}`);
}

describe('image streaming (#14.3)', () => {
  it('streams partial images from Gemini’s interim images, then image_generation.completed with usage', async () => {
    mock.setInterimImages(2);
    const stream = await client().images.generate({ model: 'gpt-image-1', prompt: 'A banana', stream: true, partial_images: 2, size: '1024x1024' });
    const events: OpenAI.Images.ImageGenStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => e.type)).toEqual(['image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed']);
    expect(events.slice(0, 2).map((e) => [e.b64_json, (e as OpenAI.Images.ImageGenPartialImageEvent).partial_image_index])).toEqual([
      [mock.interimImageBase64(0), 0],
      [mock.interimImageBase64(1), 1],
    ]);
    const done = events[2] as OpenAI.Images.ImageGenCompletedEvent;
    expect(done.b64_json).toBe(mock.imageBase64());
    expect(done).toMatchObject({ size: '1024x1024', output_format: 'png', background: 'opaque' });
    expect(done.usage.output_tokens).toBeGreaterThan(1120);
    expect(mock.received[0]!.path).toBe('/v1beta/models/gemini-3-pro-image:streamGenerateContent');
  });

  it('sends only the completed event with partial_images 0, one per image for n', async () => {
    mock.setInterimImages(2);
    const stream = await client().images.generate({ model: 'nano-banana-pro', prompt: 'x', stream: true, partial_images: 0, n: 2 });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toEqual(['image_generation.completed', 'image_generation.completed']);
  });

  it('streams edits as image_edit.* events', async () => {
    mock.setInterimImages(1);
    const stream = await client().images.edit({
      model: 'nano-banana-pro',
      prompt: 'Pop art',
      image: await toFile(pngBytes(), 'a.png', { type: 'image/png' }),
      stream: true,
      partial_images: 1,
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toEqual(['image_edit.partial_image', 'image_edit.completed']);
  });

  it('ends a stream with an error event naming the reason when no image came, which the SDK throws', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_OTHER' });
    const stream = await client().images.generate({ model: 'nano-banana-2', prompt: 'x', stream: true });
    const err = await (async () => {
      try {
        for await (const _ of stream) void _;
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err?.message).toContain('IMAGE_OTHER');
  });
});

describe('hosted image URLs (#14.4)', () => {
  it('answers response_format url with a signed gateway URL that anyone can fetch for an hour, then never again', async () => {
    const res = await client().images.generate({ model: 'nano-banana-2', prompt: 'A plum', response_format: 'url' });
    const url = res.data![0]!.url!;
    expect(res.data![0]!.b64_json).toBeUndefined();
    expect(url).toMatch(new RegExp(`^${gw.url}/v1/images/hosted/[A-Za-z0-9_-]{32}\\.png\\?se=\\d+&sig=[A-Za-z0-9_-]{43}$`));
    const fetched = await fetch(url);
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await fetched.arrayBuffer())).toEqual(pngBytes());
    // An altered signature or expiry, or another id, is a 404 like an unknown image.
    const u = new URL(url);
    for (const bad of [url.replace(/sig=./, (m) => (m.endsWith('A') ? 'sig=B' : 'sig=A')), url.replace(/se=(\d+)/, (_, s: string) => `se=${Number(s) + 3600}`), url.replace(/hosted\/./, (m) => (m.endsWith('A') ? 'hosted/B' : 'hosted/A'))]) {
      expect((await fetch(bad)).status, bad).toBe(404);
    }
    expect(u.searchParams.get('se')).toBe(String(Math.floor(clock.nowMs() / 1000) + 3600));
    const stored = () => readdirSync(gw.imagesDir).filter((f) => f.endsWith('.img'));
    expect(stored()).toHaveLength(1);
    clock.advance(59 * 60_000);
    expect((await fetch(url)).status).toBe(200);
    clock.advance(61_000);
    expect((await fetch(url)).status).toBe(404);
    // Deleted when asked for after expiry; the sweep deletes the ones nobody asks for.
    expect(stored()).toHaveLength(0);
    const other = (await client().images.generate({ model: 'nano-banana-2', prompt: 'A fig', response_format: 'url' })).data![0]!.url!;
    expect(stored()).toHaveLength(1);
    clock.advance(60 * 60_000 + 1);
    expect(await gw.gateway.hostedImages.sweep()).toBe(1);
    expect(stored()).toHaveLength(0);
    expect((await fetch(other)).status).toBe(404);
    expect(existsSync(gw.imagesDir)).toBe(true);
  });

  it('works with LangChain’s DallEAPIWrapper at its defaults (dall-e-3, 1024x1024, standard, vivid, url)', async () => {
    const tool = new DallEAPIWrapper({ apiKey: TENANT_KEY, baseUrl: `${gw.url}/v1` });
    const url = (await tool.invoke('A cat in a hat')) as string;
    expect(url).toMatch(/\/v1\/images\/hosted\//);
    expect(Buffer.from(await (await fetch(url)).arrayBuffer())).toEqual(pngBytes());
    // dall-e-3 is Nano Banana 2.1 in the shipped config; standard quality at 1024x1024 is 1K.
    expect(mock.received[0]!.path).toBe(`/v1beta/models/${shippedAliases()['dall-e-3']}:generateContent`);
    expect(generationBodies(mock.received)[0]!.generationConfig.imageConfig).toEqual({ aspectRatio: '1:1', imageSize: '1K' });
  });
});

describe('OpenAI names (#14.5)', () => {
  it.each(['gpt-image-1', 'gpt-image-1-mini', 'dall-e-3', 'dall-e-2'])('maps %s to the shipped config’s model and says which', async (name) => {
    const { response } = await client().images.generate({ model: name, prompt: 'x' }).withResponse();
    expect(response.headers.get('x-nanogate-model')).toBe(shippedAliases()[name]);
    expect(mock.received[0]!.path).toBe(`/v1beta/models/${shippedAliases()[name]}:generateContent`);
  });
});

describe('sizes, quality and formats (#14.6)', () => {
  it('makes every standard OpenAI size at 1K, priced as 1K, on a 1K/2K/4K model and on a 1K-only one', async () => {
    for (const [model, size, ratio] of [
      ['nano-banana-2', '1536x1024', '3:2'],
      ['nano-banana-2', '1792x1024', '16:9'],
      ['nano-banana-2-lite', '1536x1024', '3:2'],
      ['nano-banana-2-lite', '1024x1792', '9:16'],
    ] as const) {
      mock.reset();
      const { response } = await client().images.generate({ model, prompt: 'x', size: size as never }).withResponse();
      expect(generationBodies(mock.received)[0]!.generationConfig.imageConfig, `${model} ${size}`).toEqual({ aspectRatio: ratio, imageSize: '1K' });
      expect(response.headers.get('x-nanogate-cost-usd')).toMatch(/^0\.03/);
    }
  });

  it('lets quality choose the size where size does not', async () => {
    await client().images.generate({ model: 'nano-banana-2', prompt: 'x', quality: 'high' });
    await client().images.generate({ model: 'nano-banana-2', prompt: 'x', quality: 'low' });
    await client().images.generate({ model: 'dall-e-3', prompt: 'x', quality: 'hd', size: '1024x1024' });
    expect(generationBodies(mock.received).map((b) => b.generationConfig.imageConfig)).toEqual([{ imageSize: '2K' }, { imageSize: '1K' }, { aspectRatio: '1:1', imageSize: '1K' }]);
  });

  it.each([
    ['jpeg', 60],
    ['webp', 80],
    ['png', undefined],
  ] as const)('converts to output_format %s', async (format, compression) => {
    const res = await client().images.generate({ model: 'nano-banana-2', prompt: 'x', output_format: format, ...(compression ? { output_compression: compression } : {}) });
    const bytes = Buffer.from(res.data![0]!.b64_json!, 'base64');
    const meta = await sharp(bytes).metadata();
    expect(meta.format).toBe(format);
    expect(res.output_format).toBe(format);
    // Already PNG: Google's bytes as they came.
    if (format === 'png') expect(bytes).toEqual(pngBytes());
  });

  it('refuses a transparent background with a clear 400, before calling Google', async () => {
    const err = await apiError(client().images.generate({ model: 'nano-banana-2', prompt: 'x', background: 'transparent' }));
    expect(err.status).toBe(400);
    expect(err.param).toBe('background');
    expect(err.message).toMatch(/transparent/i);
    expect(mock.received).toHaveLength(0);
  });

  it('takes edits’ images as image_url data URLs, in JSON and in a form, like uploaded files', async () => {
    const b64 = mock.interimImageBase64(2);
    const json = await fetch(`${gw.url}/v1/images/edits`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TENANT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nano-banana-2', prompt: 'Pop art', images: [{ image_url: `data:image/png;base64,${b64}` }] }),
    });
    expect(json.status).toBe(200);
    const form = new FormData();
    form.set('model', 'nano-banana-2');
    form.set('prompt', 'Pop art');
    form.append('image[]', new Blob([pngBytes()], { type: 'image/png' }), 'a.png');
    form.set('images[][image_url]', `data:image/png;base64,${b64}`);
    const multipart = await fetch(`${gw.url}/v1/images/edits`, { method: 'POST', headers: { authorization: `Bearer ${TENANT_KEY}` }, body: form });
    expect(multipart.status).toBe(200);
    const [first, second] = generationBodies(mock.received);
    expect(first!.contents[0].parts.slice(1)).toEqual([{ inlineData: { mimeType: 'image/png', data: b64 } }]);
    expect(second!.contents[0].parts.slice(1)).toEqual([
      { inlineData: { mimeType: 'image/png', data: mock.imageBase64() } },
      { inlineData: { mimeType: 'image/png', data: b64 } },
    ]);
  });
});

describe('answers without an image (#14.7)', () => {
  it.each(['IMAGE_OTHER', 'NO_IMAGE'])('answers %s once, with x-should-retry false, and the SDK does not call again', async (reason) => {
    mock.enqueue({ kind: 'finish', finishReason: reason });
    const err = await apiError(client(2).images.generate({ model: 'nano-banana-2', prompt: 'x' }));
    expect(err.status).toBe(502);
    expect(err.headers?.get('x-should-retry')).toBe('false');
    expect(err.message).toContain(reason);
    expect(generationBodies(mock.received)).toHaveLength(1);
  });

  it('answers text instead of an image once, quoting it', async () => {
    mock.enqueue({ kind: 'textOnly', text: 'What colour should it be?' });
    const err = await apiError(client(2).images.generate({ model: 'nano-banana-2', prompt: 'x' }));
    expect(err.message).toContain('What colour should it be?');
    expect(generationBodies(mock.received)).toHaveLength(1);
  });

  it('says how many of n failed, in a header and in usage', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_OTHER' });
    const { data, response } = await client().images.generate({ model: 'nano-banana-2', prompt: 'x', n: 3 }).withResponse();
    expect(data.data).toHaveLength(2);
    expect(response.headers.get('x-nanogate-images-failed')).toBe('1');
    expect((data.usage as unknown as { images_failed: number }).images_failed).toBe(1);
  });
});
