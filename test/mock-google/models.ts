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
}

const BASE_RATIOS = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'];

const pro = {
  version: '3.0',
  displayName: 'Nano Banana Pro',
  description: 'Gemini 3 Pro Image',
  thinking: true,
  aspectRatios: BASE_RATIOS,
  imageSizes: ['1K', '2K', '4K'],
  // '512' is refused for Pro; the entry only keeps the record total.
  imageTokens: { '512': 1120, '1K': 1120, '2K': 1120, '4K': 2000 },
  inputImageTokens: 560,
  inputTokenLimit: 65536,
  outputTokenLimit: 32768,
} as const;

const flash31 = {
  version: '3.1',
  displayName: 'Nano Banana 2',
  description: 'Gemini 3.1 Flash Image',
  thinking: true,
  aspectRatios: [...BASE_RATIOS, '1:4', '4:1', '1:8', '8:1'],
  imageSizes: ['512', '1K', '2K', '4K'],
  imageTokens: { '512': 747, '1K': 1120, '2K': 1680, '4K': 2520 },
  inputImageTokens: 1120,
  inputTokenLimit: 131072,
  outputTokenLimit: 32768,
} as const;

const flash25 = {
  version: '2.5',
  displayName: 'Nano Banana',
  description: 'Gemini 2.5 Flash Image',
  thinking: false,
  aspectRatios: BASE_RATIOS,
  imageSizes: [],
  imageTokens: { '512': 1290, '1K': 1290, '2K': 1290, '4K': 1290 },
  // One 258-token tile: the mock does not decode input images to count 768 px tiles.
  inputImageTokens: 258,
  inputTokenLimit: 32768,
  outputTokenLimit: 32768,
} as const;

export const MOCK_MODELS: readonly MockModel[] = [
  { id: 'gemini-3-pro-image-preview', ...pro },
  { id: 'gemini-3.1-flash-image-preview', ...flash31 },
  { id: 'gemini-2.5-flash-image', ...flash25 },
  { id: 'gemini-3-pro-image', ...pro },
  { id: 'gemini-3.1-flash-image', ...flash31 },
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
