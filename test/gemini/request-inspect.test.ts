import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/models/catalog.js';
import { loadModelTable } from '../../src/models/model-table.js';
import { estimateRequest, estimateTextTokens } from '../../src/gemini/request-inspect.js';
import type { GenerateContentRequest } from '../../src/gemini/types.js';

function model(id: string): ModelSpec {
  const m = loadModelTable().byId.get(id);
  if (!m) throw new Error(`no model ${id}`);
  return m;
}

// Input tokens Google bills per reference image (reference/pricing.md §2): 560 for Pro, 1120 for 3.1 Flash.
const pro = model('gemini-3-pro-image');
const PRO_TOKENS_PER_IMAGE = 560;
const flash31 = model('gemini-3.1-flash-image');
const FLASH31_TOKENS_PER_IMAGE = 1120;

describe('estimateTextTokens: ~4 characters a token for Latin text, ~1.5 for CJK and other scripts (limits.md §6)', () => {
  const cases: Array<[string, number]> = [
    ['', 0],
    ['a', 1],
    ['abcd', 1],
    ['abcde', 2],
    ['a banana in a spacesuit', 6],
    ['é'.repeat(8), 2],
    ['日本語', 2],
    ['香蕉', 2],
    ['banana 香蕉', 4],
  ];
  for (const [text, tokens] of cases) it(`estimates ${JSON.stringify(text)} at ${tokens} tokens`, () => expect(estimateTextTokens(text)).toBe(tokens));
});

const text = (t: string, extra: Record<string, unknown> = {}) => ({ text: t, ...extra });
const inline = { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } };
const file = { fileData: { mimeType: 'image/png', fileUri: 'https://generativelanguage.googleapis.com/v1beta/files/abc' } };

describe('estimateRequest: what admission knows before a call goes upstream', () => {
  const cases: Array<[string, ModelSpec, unknown, { inputTokens: number; inputImages: number; outputImages: number; imageSize: string | undefined; signatures?: string[] }]> = [
    ['a text prompt', pro, { contents: [{ parts: [text('abcdefgh')] }] }, { inputTokens: 2, inputImages: 0, outputImages: 1, imageSize: undefined }],
    [
      'text over several turns and the system instruction',
      pro,
      { contents: [{ role: 'user', parts: [text('abcd')] }, { role: 'model', parts: [text('abcd'), text('abcd')] }], systemInstruction: { parts: [text('abcdefgh')] } },
      { inputTokens: 5, inputImages: 0, outputImages: 1, imageSize: undefined },
    ],
    ['thought parts, which are not billed as input', pro, { contents: [{ parts: [text('abcd'), text('x'.repeat(400), { thought: true })] }] }, { inputTokens: 1, inputImages: 0, outputImages: 1, imageSize: undefined }],
    [
      'reference images inline and by file, at the model’s tokens per image',
      pro,
      { contents: [{ parts: [text('abcd'), inline, file] }] },
      { inputTokens: 1 + 2 * PRO_TOKENS_PER_IMAGE, inputImages: 2, outputImages: 1, imageSize: undefined },
    ],
    ['a reference image for 3.1 Flash', flash31, { contents: [{ parts: [inline] }] }, { inputTokens: FLASH31_TOKENS_PER_IMAGE, inputImages: 1, outputImages: 1, imageSize: undefined }],
    ['a known imageSize', pro, { contents: [], generationConfig: { imageConfig: { imageSize: '2K' } } }, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: '2K' }],
    ['512, a size only some models take', flash31, { contents: [], generationConfig: { imageConfig: { imageSize: '512' } } }, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: '512' }],
    ['an unknown imageSize, left to the model default', pro, { contents: [], generationConfig: { imageConfig: { imageSize: '3K' } } }, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: undefined }],
    ['an imageSize of the wrong type', pro, { contents: [], generationConfig: { imageConfig: { imageSize: 4 } } }, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: undefined }],
    ['candidateCount 3', pro, { contents: [], generationConfig: { candidateCount: 3 } }, { inputTokens: 0, inputImages: 0, outputImages: 3, imageSize: undefined }],
    ['candidateCount past 8, capped', pro, { contents: [], generationConfig: { candidateCount: 20 } }, { inputTokens: 0, inputImages: 0, outputImages: 8, imageSize: undefined }],
    ['candidateCount 0', pro, { contents: [], generationConfig: { candidateCount: 0 } }, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: undefined }],
    ['candidateCount not a whole number', pro, { contents: [], generationConfig: { candidateCount: 2.5 } }, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: undefined }],
    ['candidateCount as a string', pro, { contents: [], generationConfig: { candidateCount: '3' } }, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: undefined }],
    // The native face forwards bodies untouched: odd shapes reach the estimate and must not throw.
    ['no contents at all', pro, {}, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: undefined }],
    ['contents that are not a list', pro, { contents: 'hi' }, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: undefined }],
    ['null contents, parts and part entries', pro, { contents: [null, { parts: null }, { parts: [null, 7, text('abcd')] }] }, { inputTokens: 1, inputImages: 0, outputImages: 1, imageSize: undefined }],
    ['a text that is not a string', pro, { contents: [{ parts: [{ text: 42 }] }] }, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: undefined }],
    ['a generationConfig that is not an object', pro, { contents: [], generationConfig: 'big' }, { inputTokens: 0, inputImages: 0, outputImages: 1, imageSize: undefined }],
    // #17.5: the signatures handed back, in request order (snake_case too), pin a pooled call to their project.
    [
      'the thought signatures an earlier turn hands back',
      pro,
      { contents: [{ role: 'user', parts: [text('')] }, { role: 'model', parts: [{ text: '', thoughtSignature: 's1' }, { inlineData: { mimeType: 'image/png' }, thought_signature: 's2' }, { text: '', thoughtSignature: '' }, { text: '', thoughtSignature: 3 }] }] },
      { inputTokens: PRO_TOKENS_PER_IMAGE, inputImages: 1, outputImages: 1, imageSize: undefined, signatures: ['s1', 's2'] },
    ],
  ];
  for (const [name, m, body, expected] of cases) {
    it(`estimates ${name}`, () => {
      expect(estimateRequest(m, body as GenerateContentRequest)).toEqual(expected);
    });
  }
});
