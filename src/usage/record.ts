/**
 * One usage record per upstream call (contract §8). Written by the meter, batched into the
 * database by the ledger, summed by reports. Money is an integer count of nano-USD.
 */
export type UsageFlag = 'no_image' | 'estimated' | 'aborted' | 'streamed' | 'upstream_error';

export interface UsageRecord {
  /** Unique per upstream call (a request with n=4 writes four records). */
  id: string;
  timeMs: number;
  /** Pacific calendar day (YYYY-MM-DD) of timeMs: reports group by it. */
  day: string;
  requestId: string;
  tenantId: string;
  keyId: string;
  projectId: string;
  /** 'native.generateContent', 'native.streamGenerateContent', 'openai.generations', 'openai.edits', ... */
  route: string;
  modelAsked: string;
  model: string;
  imageSize: string | null;
  imagesReturned: number;
  inputTokens: number;
  inputTextTokens: number;
  inputImageTokens: number;
  outputImageTokens: number;
  outputTextTokens: number;
  thinkingTokens: number;
  costNanoUsd: number;
  httpStatus: number;
  finishReason: string | null;
  latencyMs: number;
  user: string | null;
  batch: boolean;
  flags: UsageFlag[];
  /** Google's usageMetadata verbatim, so costs can be re-derived. */
  usageMetadata: unknown;
  priceVersion: string;
}
