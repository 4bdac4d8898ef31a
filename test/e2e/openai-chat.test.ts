/**
 * #14.1: POST /v1/chat/completions for the image models, driven by the real clients: the
 * `openai` SDK (whole and streamed, multi-turn with thought signatures), the Vercel AI SDK's
 * `openai.chat(…)` and LangChain's ChatOpenAI.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { GOOGLE_KEY, TENANT_KEY } from '../support/gateway-harness.js';
import { generationBodies, startWorld, type World } from '../support/openai-world.js';

let mock: MockGoogle;
let gw: World;
let imageHost: Server;
let imageHostHits = 0;
let imageHostUrl: string;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
  // A web server holding an image, on a host the config allows.
  imageHost = createServer((req, res) => {
    imageHostHits++;
    const png = Buffer.from(mock.interimImageBase64(2), 'base64');
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
    res.end(png);
  });
  await new Promise<void>((resolve) => imageHost.listen(0, '127.0.0.1', resolve));
  imageHostUrl = `http://127.0.0.1:${(imageHost.address() as AddressInfo).port}`;
  gw = await startWorld({ upstreamUrl: mock.url, imageUrlHosts: [`127.0.0.1:${(imageHost.address() as AddressInfo).port}`] });
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
  await new Promise((resolve) => imageHost?.close(resolve));
});
beforeEach(() => {
  mock.reset();
  mock.setInterimImages(0);
  imageHostHits = 0;
});

const client = () => new OpenAI({ apiKey: TENANT_KEY, baseURL: `${gw.url}/v1`, maxRetries: 2 });
const dataUrl = (b64: string) => `data:image/png;base64,${b64}`;
/** OpenRouter's fields on the assistant message, which the SDK's types do not name. */
type ImageMessage = OpenAI.Chat.ChatCompletionMessage & {
  images?: Array<{ type: 'image_url'; image_url: { url: string } }>;
  reasoning_details?: Array<{ type: string; data: string; id: string; format: string }>;
  reasoning?: string;
};

describe('chat completions with the openai SDK', () => {
  it('answers text in content and the image in message.images, with usage and cost', async () => {
    const { data: res, response } = await client()
      .chat.completions.create({ model: 'nano-banana-pro', messages: [{ role: 'user', content: 'A banana in a spacesuit' }], modalities: ['image', 'text'] as never })
      .withResponse();
    const message = res.choices[0]!.message as ImageMessage;
    expect(message.content).toBe('Here is the image you asked for.');
    expect(message.images).toEqual([{ type: 'image_url', image_url: { url: dataUrl(mock.imageBase64()) } }]);
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe('gemini-3-pro-image');
    expect(res.usage?.completion_tokens).toBeGreaterThan(1120);
    expect((res.usage as unknown as { cost_usd: string }).cost_usd).toMatch(/^0\.1\d{5}$/);
    expect(response.headers.get('x-nanogate-model')).toBe('gemini-3-pro-image');
    expect(response.headers.get('x-nanogate-cost-usd')).toBe((res.usage as unknown as { cost_usd: string }).cost_usd);
    const [body] = generationBodies(mock.received);
    expect(mock.received[0]!.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
    expect(body!.contents).toEqual([{ role: 'user', parts: [{ text: 'A banana in a spacesuit' }] }]);
    expect(body!.generationConfig.responseModalities).toEqual(['TEXT', 'IMAGE']);
  });

  it('takes image_config as OpenRouter does, system prompts, n, max_tokens and user, and meters each call', async () => {
    const res = await client().chat.completions.create({
      model: 'nano-banana-2',
      messages: [
        { role: 'system', content: 'You are a product photographer.' },
        { role: 'user', content: [{ type: 'text', text: 'A lamp' }] },
      ],
      n: 2,
      max_tokens: 8000,
      user: 'user-42',
      image_config: { aspect_ratio: '16:9', image_size: '2K' },
    } as never);
    expect(res.choices.map((c) => c.index)).toEqual([0, 1]);
    const bodies = generationBodies(mock.received);
    expect(bodies).toHaveLength(2);
    expect(bodies[0]!.systemInstruction).toEqual({ parts: [{ text: 'You are a product photographer.' }] });
    expect(bodies[0]!.generationConfig).toEqual({ responseModalities: ['TEXT', 'IMAGE'], imageConfig: { aspectRatio: '16:9', imageSize: '2K' }, maxOutputTokens: 8000 });
    const usage = await fetchUsage(res.id.replace(/^chatcmpl-/, ''));
    expect(usage.map((r) => [r.route, r.user, r.imageSize])).toEqual([
      ['openai.chat', 'user-42', '2K'],
      ['openai.chat', 'user-42', '2K'],
    ]);
  });

  it('sends image_url parts as inline images: data URLs, and http URLs only on allowed hosts', async () => {
    const input = mock.interimImageBase64(1);
    await client().chat.completions.create({
      model: 'nano-banana-2',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Make both pop art' },
            { type: 'image_url', image_url: { url: dataUrl(input) } },
            { type: 'image_url', image_url: { url: `${imageHostUrl}/cat.png` } },
          ],
        },
      ],
    });
    const parts = generationBodies(mock.received)[0]!.contents[0].parts;
    expect(parts).toEqual([
      { text: 'Make both pop art' },
      { inlineData: { mimeType: 'image/png', data: input } },
      { inlineData: { mimeType: 'image/png', data: mock.interimImageBase64(2) } },
    ]);
    expect(imageHostHits).toBe(1);
  });

  it('never requests an image URL on a host the operator did not allow, and calls nobody', async () => {
    for (const url of ['http://169.254.169.254/latest/meta-data', 'http://localhost:1/x.png', `${imageHostUrl.replace('127.0.0.1', 'localhost')}/cat.png`, 'file:///etc/passwd']) {
      const err = await client()
        .chat.completions.create({ model: 'nano-banana-2', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }] })
        .catch((e: unknown) => e);
      expect(err, url).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('messages[0].content[0].image_url');
    }
    expect(imageHostHits).toBe(0);
    expect(mock.received).toHaveLength(0);
  });

  it('carries a turn’s thought signatures back to Google on the next turn (multi-turn editing)', async () => {
    const first = await client().chat.completions.create({ model: 'nano-banana-pro', messages: [{ role: 'user', content: 'A red car' }] });
    const message = first.choices[0]!.message as ImageMessage;
    const details = message.reasoning_details!;
    expect(details.map((d) => [d.type, d.id, d.format])).toEqual([
      ['reasoning.encrypted', 'text-0', 'google-gemini-v1'],
      ['reasoning.encrypted', 'image-0', 'google-gemini-v1'],
    ]);
    // What Google signed, as it sent it.
    const sent = mock.answered[0]!.thoughtSignatures;
    expect(sent).toHaveLength(2);
    expect(details.map((d) => d.data)).toEqual(sent);
    mock.reset();
    await client().chat.completions.create({
      model: 'nano-banana-pro',
      messages: [
        { role: 'user', content: 'A red car' },
        { role: 'assistant', content: message.content, images: message.images, reasoning_details: message.reasoning_details } as never,
        { role: 'user', content: 'Make it blue' },
      ],
    });
    const contents = generationBodies(mock.received)[0]!.contents;
    expect(contents).toEqual([
      { role: 'user', parts: [{ text: 'A red car' }] },
      {
        role: 'model',
        parts: [
          { text: 'Here is the image you asked for.', thoughtSignature: sent[0] },
          { inlineData: { mimeType: 'image/png', data: mock.imageBase64() }, thoughtSignature: sent[1] },
        ],
      },
      { role: 'user', parts: [{ text: 'Make it blue' }] },
    ]);
  });

  it('streams chat.completion.chunk events with the text and the image in the deltas, then usage', async () => {
    mock.setInterimImages(2);
    const stream = await client().chat.completions.create({
      model: 'nano-banana-pro',
      messages: [{ role: 'user', content: 'A banana' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const images: string[] = [];
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let details: unknown;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      const delta = choice.delta as typeof choice.delta & { images?: Array<{ image_url: { url: string } }>; reasoning_details?: unknown };
      text += delta.content ?? '';
      for (const image of delta.images ?? []) images.push(image.image_url.url);
      if (delta.reasoning_details) details = delta.reasoning_details;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    expect(text).toBe('Here is the image you asked for.');
    // The final image only: interim (thought) images are drafts.
    expect(images).toEqual([dataUrl(mock.imageBase64())]);
    expect(finish).toBe('stop');
    expect(details).toHaveLength(2);
    expect(usage!.completion_tokens).toBeGreaterThan(1120);
    expect(mock.received[0]!.path).toBe('/v1beta/models/gemini-3-pro-image:streamGenerateContent');
    expect(mock.received[0]!.query).toEqual({ alt: 'sse' });
  });

  it('refuses what it cannot do in OpenAI’s shape, before calling Google', async () => {
    const cases: Array<[Record<string, unknown>, number, string | null]> = [
      [{ model: 'nano-banana', messages: [] }, 400, 'messages'],
      [{ model: 'nano-banana', messages: [{ role: 'tool', content: 'x', tool_call_id: 'a' }] }, 400, 'messages[0].role'],
      [{ model: 'nano-banana', messages: [{ role: 'user', content: 'x' }], image_config: { image_size: '4K' } }, 400, 'size'],
      [{ model: 'nano-banana', messages: [{ role: 'user', content: 'x' }], modalities: ['audio'] }, 400, 'modalities'],
      [{ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, 404, 'model'],
    ];
    for (const [body, status, param] of cases) {
      const err = (await client()
        .chat.completions.create(body as never)
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(err.status, JSON.stringify(body)).toBe(status);
      expect(err.param).toBe(param);
    }
    expect(mock.received).toHaveLength(0);
  });

  it('answers a no-image, no-text answer with a message naming the reason, and the SDK does not retry it (#14.7)', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_OTHER' });
    const err = (await client()
      .chat.completions.create({ model: 'nano-banana-2', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(502);
    expect(err.message).toContain('IMAGE_OTHER');
    // maxRetries is 2: one call reached Google, so one was billed.
    expect(generationBodies(mock.received)).toHaveLength(1);
  });

  it('returns the choices that succeeded when some of n fail, and says how many failed', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_SAFETY' });
    const { data, response } = await client()
      .chat.completions.create({ model: 'nano-banana-2', messages: [{ role: 'user', content: 'two' }], n: 2 })
      .withResponse();
    expect(data.choices).toHaveLength(1);
    expect(response.headers.get('x-nanogate-images-failed')).toBe('1');
    expect((data.usage as unknown as { images_failed: number }).images_failed).toBe(1);
  });
});

describe('chat completions with other real clients', () => {
  it('works with the Vercel AI SDK openai.chat(): text back, the image in the raw answer, an input image sent', async () => {
    const openai = createOpenAI({ apiKey: TENANT_KEY, baseURL: `${gw.url}/v1` });
    const input = Buffer.from(mock.interimImageBase64(0), 'base64');
    const result = await generateText({
      model: openai.chat('nano-banana-2'),
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Make it pop art' }, { type: 'image', image: input, mediaType: 'image/png' }] }],
    });
    expect(result.text).toBe('Here is the image you asked for.');
    expect(result.usage.outputTokens).toBeGreaterThan(1120);
    const raw = result.response.body as { choices: Array<{ message: ImageMessage }> };
    expect(raw.choices[0]!.message.images?.[0]?.image_url.url).toBe(dataUrl(mock.imageBase64()));
    const parts = generationBodies(mock.received)[0]!.contents[0].parts;
    expect(parts[1]).toEqual({ inlineData: { mimeType: 'image/png', data: mock.interimImageBase64(0) } });
  });

  it('streams with the Vercel AI SDK openai.chat()', async () => {
    const { streamText } = await import('ai');
    const openai = createOpenAI({ apiKey: TENANT_KEY, baseURL: `${gw.url}/v1` });
    const result = streamText({ model: openai.chat('nano-banana-2'), prompt: 'A pear' });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    expect(text).toBe('Here is the image you asked for.');
    expect((await result.usage).outputTokens).toBeGreaterThan(1120);
  });

  it('works with LangChain ChatOpenAI, which reads message.images into image content blocks', async () => {
    const chat = new ChatOpenAI({ model: 'nano-banana-2', apiKey: TENANT_KEY, configuration: { baseURL: `${gw.url}/v1` }, maxRetries: 0 });
    const answer = await chat.invoke('A kiwi');
    expect(answer.content).toEqual([
      { type: 'text', text: 'Here is the image you asked for.' },
      { type: 'image', url: dataUrl(mock.imageBase64()) },
    ]);
    expect(answer.usage_metadata?.output_tokens).toBeGreaterThan(1120);
  });
});

async function fetchUsage(requestId: string): Promise<Array<{ route: string; user: string | null; imageSize: string | null }>> {
  // Records are flushed every 20 ms in tests; poll with a deadline rather than sleep.
  const deadline = Date.now() + 5000;
  for (;;) {
    const res = await fetch(`${gw.url}/v1/usage/requests/${requestId}`, { headers: { authorization: `Bearer ${TENANT_KEY}` } });
    if (res.ok) {
      const json = (await res.json()) as { calls?: Array<{ route: string; user: string | null; imageSize: string | null }> };
      if (json.calls && json.calls.length > 0) return json.calls;
    }
    if (Date.now() > deadline) throw new Error(`no usage for ${requestId}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('chat completions with answers larger than the memory the face may hold', () => {
  let bigMock: MockGoogle;
  let small: World;
  beforeAll(async () => {
    bigMock = await startMockGoogle({ apiKeys: [GOOGLE_KEY], imageBytes: { default: 3 * 1024 * 1024 } });
    small = await startWorld({ upstreamUrl: bigMock.url, answerMemoryMB: 1 });
  });
  afterAll(async () => {
    await small?.close();
    await bigMock?.close();
  });

  it('keeps the answers in spool files and gives each image back whole, in order', async () => {
    const sdk = new OpenAI({ apiKey: TENANT_KEY, baseURL: `${small.url}/v1`, maxRetries: 0 });
    const { data: res, response } = await sdk.chat.completions
      .create({ model: 'nano-banana-pro', messages: [{ role: 'user', content: 'Two large bananas' }], modalities: ['image', 'text'] as never, n: 2 } as never)
      .withResponse();
    expect(response.status).toBe(200);
    // Every piece's length is known, spooled ones included: the body has a content-length.
    expect(Number(response.headers.get('content-length'))).toBeGreaterThan(2 * 3 * 1024 * 1024);
    const choices = (res as OpenAI.Chat.ChatCompletion).choices;
    expect(choices).toHaveLength(2);
    for (const choice of choices) {
      const [image] = (choice.message as ImageMessage).images ?? [];
      expect(image?.image_url.url).toBe(dataUrl(bigMock.imageBase64()));
    }
  });
});