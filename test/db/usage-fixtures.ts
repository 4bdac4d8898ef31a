/** Usage records for database, ledger and report tests. */
import { pacificDay } from '../../src/time/pacific.js';
import type { UsageRecord } from '../../src/usage/record.js';

export const PRO = 'gemini-3-pro-image';
/**
 * Shut down on 2026-10-02, but a usage record names the model that served the call, so past
 * records keep naming it (the fixtures' FLASH records carry its 1290 tokens per image).
 */
export const FLASH = 'gemini-2.5-flash-image';

let seq = 0;

/** A complete record at `iso`; its Pacific day is derived from the time, as the meter does. */
export function usageRecord(iso: string, over: Partial<UsageRecord> = {}): UsageRecord {
  const timeMs = over.timeMs ?? Date.parse(iso);
  seq += 1;
  return {
    id: `rec_${seq.toString().padStart(6, '0')}_${Math.random().toString(36).slice(2, 8)}`,
    timeMs,
    day: pacificDay(timeMs),
    requestId: `req_${seq}`,
    tenantId: 'a',
    keyId: 'key_a1',
    projectId: 'p1',
    route: 'native.generateContent',
    modelAsked: 'nano-banana-pro',
    model: PRO,
    imageSize: '1K',
    imagesReturned: 1,
    inputTokens: 10,
    inputTextTokens: 10,
    inputImageTokens: 0,
    outputImageTokens: 1120,
    outputTextTokens: 0,
    thinkingTokens: 0,
    costNanoUsd: 134_000_000,
    httpStatus: 200,
    finishReason: 'STOP',
    latencyMs: 1234,
    user: null,
    batch: false,
    flags: [],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 1120, totalTokenCount: 1130 },
    priceVersion: 'test-1',
    ...over,
  };
}
