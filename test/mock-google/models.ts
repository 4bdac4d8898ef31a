/**
 * The models the mock serves, written from reference/google-api.md §2 and reference/pricing.md §2
 * rather than imported from src/models/catalog.ts: a mistake in the gateway's catalog must show
 * up as a test failure, not be mirrored by the mock.
 */
export type MockImageSize = '512' | '1K' | '2K' | '4K';

export interface MockModel {
  readonly id: string;
  readonly version: string;
  readonly displayName: string;
  readonly description: string;
  /** Gemini 3 models think: thought parts, thoughtSignature, thoughtsTokenCount. */
  readonly thinking: boolean;
  readonly aspectRatios: readonly string[];
  /** Accepted `imageSize` values; empty = the field is refused (2.5 Flash has no size option). */
  readonly imageSizes: readonly MockImageSize[];
  /** Output tokens per image by size; a request without `imageSize` is billed as 1K. */
  readonly imageTokens: Readonly<Record<MockImageSize, number>>;
  /** Prompt tokens per input image. */
  readonly inputImageTokens: number;
  readonly inputTokenLimit: number;
  readonly outputTokenLimit: number;
  /** `GenerateContentResponse.modelStatus` its answers carry (models-2026-11.md §5), if any. */
  readonly modelStatus?: { modelStage: string; retirementTime?: string; message?: string };
}

const BASE_RATIOS = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'];
const WIDE_RATIOS = [...BASE_RATIOS, '1:4', '4:1', '1:8', '8:1'];

/** Google's lineup on 2026-11-28 (reference/models-2026-11.md): the preview ids are shut down and answer 404. */
export const MOCK_MODELS: readonly MockModel[] = [
  {
    id: 'gemini-3-pro-image',
    version: '3.0',
    displayName: 'Nano Banana Pro',
    description: 'Gemini 3 Pro Image',
    thinking: true,
    aspectRatios: BASE_RATIOS,
    imageSizes: ['1K', '2K', '4K'],
    // '512' is refused for Pro; the entry only keeps the record total.
    imageTokens: { '512': 1120, '1K': 1120, '2K': 1120, '4K': 2000 },
    inputImageTokens: 560,
    inputTokenLimit: 131072,
    outputTokenLimit: 32768,
  },
  {
    id: 'gemini-nano-banana-2.1',
    version: '2.1',
    displayName: 'Nano Banana 2.1',
    description: 'Gemini Nano Banana 2.1',
    thinking: true,
    aspectRatios: WIDE_RATIOS,
    // 512 is rejected on 2.1.
    imageSizes: ['1K', '2K', '4K'],
    imageTokens: { '512': 1120, '1K': 1120, '2K': 1680, '4K': 3780 },
    inputImageTokens: 1120,
    inputTokenLimit: 65536,
    outputTokenLimit: 65536,
  },
  {
    id: 'gemini-3.1-flash-lite-image',
    version: '3.1',
    displayName: 'Nano Banana 2 Lite',
    description: 'Gemini 3.1 Flash Lite Image',
    thinking: true,
    aspectRatios: BASE_RATIOS,
    imageSizes: ['1K'],
    imageTokens: { '512': 1120, '1K': 1120, '2K': 1120, '4K': 1120 },
    inputImageTokens: 1120,
    inputTokenLimit: 65536,
    outputTokenLimit: 4096,
  },
  {
    // Deprecated 2026-10-06 and still served.
    id: 'gemini-3.1-flash-image',
    version: '3.1',
    displayName: 'Nano Banana 2',
    description: 'Gemini 3.1 Flash Image',
    thinking: true,
    aspectRatios: WIDE_RATIOS,
    imageSizes: ['512', '1K', '2K', '4K'],
    imageTokens: { '512': 747, '1K': 1120, '2K': 1680, '4K': 2520 },
    inputImageTokens: 1120,
    inputTokenLimit: 65536,
    outputTokenLimit: 65536,
    modelStatus: { modelStage: 'LEGACY', message: 'gemini-3.1-flash-image is deprecated; migrate to gemini-nano-banana-2.1.' },
  },
];

export function findModel(id: string): MockModel | undefined {
  return MOCK_MODELS.find((m) => m.id === id);
}

/** The `GET /models` entry (google-api.md §6; displayName/version are illustrative there). */
export function modelResource(model: MockModel): Record<string, unknown> {
  return {
    name: `models/${model.id}`,
    version: model.version,
    displayName: model.displayName,
    description: model.description,
    inputTokenLimit: model.inputTokenLimit,
    outputTokenLimit: model.outputTokenLimit,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'batchGenerateContent'],
    temperature: 1,
    topP: 0.95,
    maxTemperature: 2,
    thinking: model.thinking,
  };
}
