/**
 * #14.2: POST /v1/responses with the image_generation tool, driven by the `openai` SDK (whole
 * and streamed, partial images from Gemini's interim thought images) and the Vercel AI SDK's
 * default `openai('…')` model, which calls Responses.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, type ToolSet } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { GOOGLE_KEY, TENANT_KEY } from '../support/gateway-harness.js';
import { generationBodies, startWorld, type World } from '../support/openai-world.js';

let mock: MockGoogle;
let gw: World;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
  gw = await startWorld({ upstreamUrl: mock.url });
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
});
beforeEach(() => {
  mock.reset();
  mock.setInterimImages(0);
});

const client = () => new OpenAI({ apiKey: TENANT_KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });

describe('Responses with the openai SDK', () => {
  it('answers an image_generation_call item with the base64 result, the text as a message, and usage', async () => {
    const { data: res, response } = await client()
      .responses.create({ model: 'gpt-image-1', input: 'A banana in a spacesuit', tools: [{ type: 'image_generation', size: '1536x1024', quality: 'high' }] })
      .withResponse();
    expect(res.status).toBe('completed');
    expect(res.model).toBe('gemini-3-pro-image');
    const image = res.output.find((o) => o.type === 'image_generation_call') as OpenAI.Responses.ResponseOutputItem.ImageGenerationCall;
    expect(image.result).toBe(mock.imageBase64());
    expect(image.status).toBe('completed');
    expect(res.output_text).toBe('Here is the image you asked for.');
    expect(res.usage?.output_tokens).toBeGreaterThan(1120);
    expect(res.usage?.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-nanogate-model')).toBe('gemini-3-pro-image');
    const [body] = generationBodies(mock.received);
    // 1536x1024 is 1K by pixels, but quality high does not choose where size does.
    expect(body!.generationConfig.imageConfig).toEqual({ aspectRatio: '3:2', imageSize: '1K' });
    expect(body!.contents).toEqual([{ role: 'user', parts: [{ text: 'A banana in a spacesuit' }] }]);
  });

  it('takes input images and instructions, and a text model name with the tool goes to gpt-image-1’s model', async () => {
    const input = mock.interimImageBase64(1);
    await client().responses.create({
      model: 'gpt-4.1',
      instructions: 'Keep the colours.',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Make it pop art' }, { type: 'input_image', image_url: `data:image/png;base64,${input}`, detail: 'auto' }] }],
      tools: [{ type: 'image_generation' }],
    });
    expect(mock.received[0]!.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
    const body = generationBodies(mock.received)[0]!;
    expect(body.systemInstruction).toEqual({ parts: [{ text: 'Keep the colours.' }] });
    expect(body.contents[0].parts).toEqual([{ text: 'Make it pop art' }, { inlineData: { mimeType: 'image/png', data: input } }]);
  });

  it('streams OpenAI’s events, with a partial_image event for each interim image Google shows', async () => {
    mock.setInterimImages(2);
    const stream = await client().responses.create({
      model: 'nano-banana-pro',
      input: 'A banana',
      tools: [{ type: 'image_generation', partial_images: 2 }],
      stream: true,
    });
    const types: string[] = [];
    const partials: string[] = [];
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.image_generation_call.partial_image') partials.push(event.partial_image_b64);
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(partials).toEqual([mock.interimImageBase64(0), mock.interimImageBase64(1)]);
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.image_generation_call.in_progress',
      'response.image_generation_call.generating',
      'response.image_generation_call.partial_image',
      'response.image_generation_call.partial_image',
      'response.image_generation_call.completed',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const image = completed!.output.find((o) => o.type === 'image_generation_call') as OpenAI.Responses.ResponseOutputItem.ImageGenerationCall;
    expect(image.result).toBe(mock.imageBase64());
    expect(completed!.usage?.output_tokens).toBeGreaterThan(1120);
  });

  it('sends no more partial images than asked, and none by default', async () => {
    mock.setInterimImages(2);
    const count = async (partial_images?: number) => {
      const stream = await client().responses.create({ model: 'nano-banana-pro', input: 'x', tools: [{ type: 'image_generation', ...(partial_images !== undefined ? { partial_images } : {}) }], stream: true });
      let n = 0;
      for await (const event of stream) if (event.type === 'response.image_generation_call.partial_image') n++;
      return n;
    };
    expect(await count(1)).toBe(1);
    expect(await count()).toBe(0);
  });

  it('ends a stream with response.failed naming Google’s reason when no image came', async () => {
    mock.enqueue({ kind: 'finish', finishReason: 'IMAGE_SAFETY' });
    const stream = await client().responses.create({ model: 'nano-banana-2', input: 'x', tools: [{ type: 'image_generation' }], stream: true });
    let failed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) if (event.type === 'response.failed') failed = event.response;
    expect(failed?.error?.code).toBe('content_policy_violation');
    expect(failed?.error?.message).toContain('IMAGE_SAFETY');
  });

  it('refuses previous_response_id and other tools in OpenAI’s shape, before calling Google', async () => {
    for (const body of [
      { model: 'nano-banana', input: 'x', previous_response_id: 'resp_1' },
      { model: 'nano-banana', input: 'x', tools: [{ type: 'web_search' }] },
      { model: 'nano-banana', input: 'x', tools: [{ type: 'image_generation', background: 'transparent' }] },
    ]) {
      const err = (await client()
        .responses.create(body as never)
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(err.status, JSON.stringify(body)).toBe(400);
    }
    expect(mock.received).toHaveLength(0);
  });
});

describe('Responses with the Vercel AI SDK', () => {
  const provider = () => createOpenAI({ apiKey: TENANT_KEY, baseURL: `${gw.url}/v1` });

  it('generates an image with openai("…") and the image_generation tool', async () => {
    const openai = provider();
    const result = await generateText({
      model: openai('nano-banana-2'),
      prompt: 'A lemon',
      // A ToolSet: the provider tool's own type trips the AI SDK's inference of typed results.
      tools: { image_generation: openai.tools.imageGeneration({ outputFormat: 'png' }) } as ToolSet,
    });
    const call = result.toolResults.find((r) => r.toolName === 'image_generation');
    expect((call?.output as { result: string } | undefined)?.result).toBe(mock.imageBase64());
    expect(result.text).toBe('Here is the image you asked for.');
    expect(result.usage.outputTokens).toBeGreaterThan(1120);
  });

  it('streams with openai("…"), partial images included', async () => {
    mock.setInterimImages(1);
    const openai = provider();
    const result = streamText({
      model: openai('nano-banana-pro'),
      prompt: 'A lime',
      tools: { image_generation: openai.tools.imageGeneration({ partialImages: 1 }) } as ToolSet,
    });
    const kinds: string[] = [];
    let image: string | undefined;
    for await (const part of result.fullStream) {
      kinds.push(part.type);
      if (part.type === 'tool-result' && part.toolName === 'image_generation') image = (part.output as { result: string }).result;
    }
    expect(image).toBe(mock.imageBase64());
    expect(await result.text).toBe('Here is the image you asked for.');
    expect(kinds).not.toContain('error');
  });
});

describe('Responses with an answer larger than the memory the face may hold', () => {
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

  it('keeps the answer in a spool file and gives the image back whole', async () => {
    const sdk = new OpenAI({ apiKey: TENANT_KEY, baseURL: `${small.url}/v1`, maxRetries: 0 });
    const { data: res, response } = await sdk.responses
      .create({ model: 'gpt-image-1', input: 'A large banana', tools: [{ type: 'image_generation' }] })
      .withResponse();
    expect(response.status).toBe(200);
    expect(Number(response.headers.get('content-length'))).toBeGreaterThan(3 * 1024 * 1024);
    const image = res.output.find((o) => o.type === 'image_generation_call') as OpenAI.Responses.ResponseOutputItem.ImageGenerationCall;
    expect(image.result).toBe(bigMock.imageBase64());
  });

  it('converts a spooled image when another output format is asked for', async () => {
    const sdk = new OpenAI({ apiKey: TENANT_KEY, baseURL: `${small.url}/v1`, maxRetries: 0 });
    const res = await sdk.responses.create({ model: 'gpt-image-1', input: 'A large banana', tools: [{ type: 'image_generation', output_format: 'jpeg' }] });
    const image = res.output.find((o) => o.type === 'image_generation_call') as OpenAI.Responses.ResponseOutputItem.ImageGenerationCall;
    // A JPEG starts FF D8 FF.
    expect(Buffer.from(image.result!, 'base64').subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
  });
});
