/**
 * One usage record per upstream call (contract §8). Written by the meter, batched into the
 * database by the ledger, summed by reports. Money is an integer count of nano-USD.
 */
import { randomHex } from '../random/pool.js';

/**
 * Every flag a record may carry (the admin console filters by them). `over_hold`: the call cost
 * more than its budget held for it (#13.1), because it wrote more text and thinking than its
 * allowance (or its prompt was longer than estimated).
 */
export const USAGE_FLAGS = ['no_image', 'estimated', 'aborted', 'streamed', 'upstream_error', 'over_hold'] as const;

export type UsageFlag = (typeof USAGE_FLAGS)[number];

export interface UsageRecord {
  /** Unique per upstream call (a request with n=4 writes four records): newRecordId(). */
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

/**
 * A UUIDv7 (RFC 9562 §5.7): the time in ms in the first 48 bits, then random bits. Ids that grow
 * with time land at the end of the primary-key index instead of on random pages: with random
 * (v4) ids, ledger writes slowed from ~58k to ~31k records/s on SQLite once the table held
 * 300k rows, and kept slowing as it grew.
 */
export function newRecordId(nowMs: number): string {
  const time = Math.max(0, Math.floor(nowMs)).toString(16).padStart(12, '0').slice(-12);
  // 74 random bits: 3 + 3 + 12 hex digits, and 2 bits beside the variant's "10".
  const r = randomHex(10);
  const variant = ((parseInt(r[3]!, 16) & 0x3) | 0x8).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${r.slice(0, 3)}-${variant}${r.slice(4, 7)}-${r.slice(7, 19)}`;
}
