import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import { chatGeminiBody, parseChatBody, resolveTurns } from '../../../src/faces/openai/chat-request.js';
import type { ParseOptions } from '../../../src/faces/openai/generations-request.js';
import { parseResponsesBody, resolveResponsesTurns, responsesGeminiBody } from '../../../src/faces/openai/responses-request.js';
import { loadModelTable } from '../../../src/models/model-table.js';
import { ModelResolver } from '../../../src/models/resolver.js';
import { ManualClock } from '../../../src/time/clock.js';

const resolver = new ModelResolver({ table: loadModelTable(), aliases: { 'gpt-image-1': 'gemini-nano-banana-2.1' }, clock: new ManualClock('2026-11-28T12:00:00Z') });
const opts: ParseOptions = { resolve: (n) => resolver.resolve(n), defaultModel: 'gemini-3-pro-image', servedModels: resolver.servedNames() };
const policy = { allowHosts: [], maxBytes: 1 << 20, timeoutMs: 1000 };
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64');
const JPEG = Buffer.from('ffd8ffe000104a464946', 'hex').toString('base64');

async function chatBody(body: Record<string, unknown>) {
  const req = parseChatBody(body, opts);
  return JSON.parse(chatGeminiBody(req, await resolveTurns(req.turns, policy)).body.toString()) as Record<string, unknown>;
}

function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('chat completions to Gemini (#14.1)', () => {
  it('turns roles into turns: system and developer into systemInstruction, assistant into the model, consecutive ones merged', async () => {
    expect(
      await chatBody({
        model: 'nano-banana-2',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: [{ type: 'text', text: 'Photographs only.' }] },
          { role: 'user', content: 'A cat' },
          { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] },
          { role: 'assistant', content: 'Here it is.', images: [{ type: 'image_url', image_url: { url: `data:image/jpeg;base64,${JPEG}` } }] },
          { role: 'user', content: 'Bluer' },
        ],
      }),
    ).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'A cat' }, { inlineData: { mimeType: 'image/png', data: PNG } }] },
        { role: 'model', parts: [{ text: 'Here it is.' }, { inlineData: { mimeType: 'image/jpeg', data: JPEG } }] },
        { role: 'user', parts: [{ text: 'Bluer' }] },
      ],
      systemInstruction: { parts: [{ text: 'Be brief.\n\nPhotographs only.' }] },
      generationConfig: { responseModalities: ['TEXT', 'IMAGE'] },
    });
  });

  it('puts each signature of reasoning_details on the part it names, and ignores entries it does not know', async () => {
    const body = await chatBody({
      model: 'nano-banana-pro',
      messages: [
        { role: 'user', content: 'A car' },
        {
          role: 'assistant',
          content: [{ type: 'text', text: 'Done.' }],
          images: [{ image_url: { url: `data:image/png;base64,${PNG}` } }, { image_url: `data:image/png;base64,${PNG}` }],
          reasoning_details: [
            { type: 'reasoning.text', text: 'thinking…', format: 'google-gemini-v1' },
            { type: 'reasoning.encrypted', data: 'SIG-IMAGE-1', id: 'image-1', format: 'google-gemini-v1' },
            { type: 'reasoning.encrypted', data: 'SIG-TEXT', id: 'text-0' },
            { type: 'reasoning.encrypted', data: 'OTHER', id: 'image-0', format: 'anthropic-claude-v1' },
          ],
        },
        { role: 'user', content: 'Blue' },
      ],
    });
    expect((body['contents'] as Array<{ parts: unknown[] }>)[1]!.parts).toEqual([
      { text: 'Done.', thoughtSignature: 'SIG-TEXT' },
      { inlineData: { mimeType: 'image/png', data: PNG } },
      { inlineData: { mimeType: 'image/png', data: PNG }, thoughtSignature: 'SIG-IMAGE-1' },
    ]);
  });

  it.each([
    [{ modalities: ['image'] }, { responseModalities: ['IMAGE'] }],
    [{ modalities: ['text'] }, { responseModalities: ['TEXT'] }],
    [{ image_config: { aspect_ratio: '21:9', image_size: '4k' } }, { responseModalities: ['TEXT', 'IMAGE'], imageConfig: { aspectRatio: '21:9', imageSize: '4K' } }],
    [{ max_completion_tokens: 5000, temperature: 0.5, top_p: 0.9, seed: 7, stop: 'END' }, { responseModalities: ['TEXT', 'IMAGE'], maxOutputTokens: 5000, temperature: 0.5, topP: 0.9, seed: 7, stopSequences: ['END'] }],
  ])('maps %j to generationConfig %j', async (extra, generationConfig) => {
    expect((await chatBody({ model: 'nano-banana-2', messages: [{ role: 'user', content: 'x' }], ...extra }))['generationConfig']).toEqual(generationConfig);
  });

  it.each([
    ['no messages', { messages: [] }, 'messages'],
    ['a last message that is not the user’s', { messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }] }, 'messages'],
    ['a tool message', { messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].role'],
    ['an audio part', { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, 'messages[0].content[0].type'],
    ['an image part without a URL', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }, 'messages[0].content[0].image_url'],
    ['n of 11', { messages: [{ role: 'user', content: 'x' }], n: 11 }, 'n'],
    ['a size the model lacks', { model: 'nano-banana', messages: [{ role: 'user', content: 'x' }], image_config: { image_size: '2K' } }, 'size'],
    ['a ratio the model lacks', { model: 'nano-banana-pro', messages: [{ role: 'user', content: 'x' }], image_config: { aspect_ratio: '8:1' } }, 'aspect_ratio'],
    ['15 images', { messages: [{ role: 'user', content: Array.from({ length: 15 }, () => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } })) }] }, 'messages'],
  ])('refuses %s, naming %s', (_name, body, param) => {
    expect(refusal(() => parseChatBody({ model: 'nano-banana-2', ...body }, opts)).details.param).toBe(param);
  });

  it('refuses an image URL the policy does not allow, and a data URL that is no image', async () => {
    const req = parseChatBody({ model: 'nano-banana-2', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] }, opts);
    await expect(resolveTurns(req.turns, policy)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { param: 'messages[0].content[0].image_url' } });
    const text = parseChatBody({ model: 'nano-banana-2', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:text/plain;base64,aGk=' } }] }] }, opts);
    await expect(resolveTurns(text.turns, policy)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('Responses to Gemini (#14.2)', () => {
  const body = async (b: Record<string, unknown>) => {
    const req = parseResponsesBody(b, opts);
    return { req, gemini: JSON.parse(responsesGeminiBody(req, await resolveResponsesTurns(req.turns, policy)).body.toString()) as Record<string, unknown> };
  };

  it('takes input items, earlier image_generation_call results as the model’s, and instructions', async () => {
    const { gemini } = await body({
      model: 'nano-banana-2',
      instructions: 'Be bold.',
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'A cat' }] },
        { type: 'image_generation_call', id: 'ig_1', status: 'completed', result: PNG },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { role: 'user', content: [{ type: 'input_text', text: 'Bluer' }, { type: 'input_image', image_url: `data:image/jpeg;base64,${JPEG}` }] },
      ],
      tools: [{ type: 'image_generation', size: '1024x1536', quality: 'low', output_format: 'webp' }],
    });
    expect(gemini).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'A cat' }] },
        { role: 'model', parts: [{ inlineData: { mimeType: 'image/png', data: PNG } }] },
        { role: 'user', parts: [{ text: 'Bluer' }, { inlineData: { mimeType: 'image/jpeg', data: JPEG } }] },
      ],
      systemInstruction: { parts: [{ text: 'Be bold.' }] },
      generationConfig: { responseModalities: ['TEXT', 'IMAGE'], imageConfig: { aspectRatio: '2:3', imageSize: '1K' } },
    });
  });

  it.each([
    [{ model: 'nano-banana-pro', tools: [{ type: 'image_generation' }] }, 'gemini-3-pro-image'],
    [{ model: 'gpt-4.1', tools: [{ type: 'image_generation', model: 'nano-banana' }] }, 'gemini-3.1-flash-lite-image'],
    // A text model with the tool and no tool model: whatever gpt-image-1 names here.
    [{ model: 'gpt-4.1', tools: [{ type: 'image_generation' }] }, 'gemini-nano-banana-2.1'],
  ])('picks the image model for %j', async (b, id) => {
    expect(parseResponsesBody({ input: 'x', ...b }, opts).model.id).toBe(id);
  });

  it('asks for text alone with tool_choice none', async () => {
    expect((await body({ model: 'nano-banana-2', input: 'x', tool_choice: 'none' })).gemini['generationConfig']).toEqual({ responseModalities: ['TEXT'] });
  });

  it.each([
    ['an unknown text model without the tool', { model: 'gpt-4.1', input: 'x' }, 'model'],
    ['item references', { model: 'nano-banana', input: [{ type: 'item_reference', id: 'ig_1' }] }, 'input[0].type'],
    ['file ids', { model: 'nano-banana', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }] }, 'input[0].content[0].image_url'],
    ['partial_images 4', { model: 'nano-banana', input: 'x', tools: [{ type: 'image_generation', partial_images: 4 }] }, 'tools.partial_images'],
  ])('refuses %s', (_name, b, param) => {
    expect(refusal(() => parseResponsesBody(b, opts)).details.param).toBe(param);
  });
});
