/**
 * Google's wire shapes, only as far as the gateway reads them (reference/google-api.md).
 * The native face never re-serializes a request or response: these types describe what the
 * gateway inspects, not what it forwards.
 */
export type Modality = 'TEXT' | 'IMAGE' | 'AUDIO' | 'VIDEO' | 'DOCUMENT' | (string & {});

export interface ModalityTokenCount {
  modality?: Modality;
  tokenCount?: number;
}

export interface UsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  totalTokenCount?: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
  toolUsePromptTokenCount?: number;
  promptTokensDetails?: ModalityTokenCount[];
  candidatesTokensDetails?: ModalityTokenCount[];
  cacheTokensDetails?: ModalityTokenCount[];
  toolUsePromptTokensDetails?: ModalityTokenCount[];
  serviceTier?: string;
}

/**
 * `GenerateContentResponse.modelStatus` (models-2026-11.md §5): how Google rates the model that
 * answered. modelStage is one of MODEL_STAGE_UNSPECIFIED, UNSTABLE_EXPERIMENTAL, EXPERIMENTAL,
 * PREVIEW, STABLE, LEGACY, DEPRECATED, RETIRED; retirementTime is an RFC 3339 timestamp.
 */
export interface ModelStatus {
  modelStage?: string;
  retirementTime?: string;
  message?: string;
}

export interface InlineData {
  mimeType?: string;
  data?: string;
}

export interface Part {
  text?: string;
  inlineData?: InlineData;
  fileData?: { mimeType?: string; fileUri?: string };
  thought?: boolean;
  thoughtSignature?: string;
}

export interface Content {
  role?: string;
  parts?: Part[];
}

export interface ImageConfig {
  aspectRatio?: string;
  imageSize?: string;
  personGeneration?: string;
}

export interface GenerationConfig {
  responseModalities?: string[];
  imageConfig?: ImageConfig;
  candidateCount?: number;
  [key: string]: unknown;
}

export interface GenerateContentRequest {
  contents?: Content[];
  systemInstruction?: Content;
  generationConfig?: GenerationConfig;
  [key: string]: unknown;
}

/** Google's error envelope: `{"error":{"code","message","status","details"}}`. */
export interface GoogleErrorBody {
  error: {
    code: number;
    message: string;
    status: string;
    details?: Array<Record<string, unknown> & { '@type': string }>;
  };
}

export const GOOGLE_TYPE_PREFIX = 'type.googleapis.com/google.rpc.';
