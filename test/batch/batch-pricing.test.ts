import { describe, expect, it } from 'vitest';
import { batchHoldNanoUsd, batchInputTokens, batchUsageRecord, httpStatusOf, type BatchForRecords } from '../../src/batch/batch-pricing.js';
import { batchRecordId } from '../../src/batch/names.js';
import { emptyRequestStats, addRequest } from '../../src/batch/request-stats.js';
import { loadModelTable } from '../../src/models/model-table.js';

const table = loadModelTable();
const PRO = table.byId.get('gemini-3-pro-image')!;
const LITE = table.byId.get('gemini-3.1-flash-lite-image')!;
const AT = Date.parse('2026-11-28T12:00:00Z');

const batch: BatchForRecords = {
  name: 'batches/0123456789abcdef0123',
  tenantId: 't',
  keyId: 'k',
  projectId: 'p',
  createdAtMs: AT,
  modelAsked: 'nano-banana-pro',
  route: 'native.batchGenerateContent',
  imageSize: null,
};

describe('batch prices', () => {
  it.each([
    // pricing.md E4: Pro, Batch, 1K: 20 × 1,000 + 1120 × 60,000.
    ['E4 Pro 1K', { promptTokenCount: 20, candidatesTokenCount: 1120, candidatesTokensDetails: [{ modality: 'IMAGE', tokenCount: 1120 }] }, 67_220_000],
    // Thinking and text at 6,000 per token: 45 × 1,000 + 1120 × 60,000 + (10 + 220) × 6,000.
    ['Pro 2K with thinking', { promptTokenCount: 45, candidatesTokenCount: 1130, thoughtsTokenCount: 220, candidatesTokensDetails: [{ modality: 'IMAGE', tokenCount: 1120 }, { modality: 'TEXT', tokenCount: 10 }] }, 68_625_000],
  ])('prices each response at the Batch rates of the row in force when the batch was created: %s', (_name, usageMetadata, nano) => {
    const r = batchUsageRecord(batch, PRO, { index: 3, key: 'x', response: { usageMetadata, finishReasons: ['STOP'], imageCount: 1, images: [], text: '' } }, AT + 60_000);
    expect(r).toMatchObject({ costNanoUsd: nano, batch: true, httpStatus: 200, imagesReturned: 1, finishReason: 'STOP', requestId: batch.name, latencyMs: 60_000, flags: [] });
    expect(r.id).toBe(batchRecordId(batch.name, 3, AT));
  });

  it('records a request Google could not process, and a line nobody could read, at $0', () => {
    const failed = batchUsageRecord(batch, PRO, { index: 0, error: { code: 3, status: 'INVALID_ARGUMENT', message: 'bad' } }, AT);
    expect(failed).toMatchObject({ costNanoUsd: 0, httpStatus: 400, finishReason: 'INVALID_ARGUMENT', flags: ['upstream_error'], usageMetadata: null });
    const broken = batchUsageRecord(batch, PRO, { index: 1, malformed: true }, AT);
    expect(broken).toMatchObject({ costNanoUsd: 0, httpStatus: 502, flags: ['upstream_error'] });
  });

  it.each([
    [3, 400],
    [8, 429],
    [13, 500],
    [14, 503],
    [400, 400],
    [undefined, 500],
  ])('maps status code %s to HTTP %s', (code, http) => {
    expect(httpStatusOf(code)).toBe(http);
  });

  it('holds, per request, its input, its images at their size and a text allowance, all at Batch prices', () => {
    const stats = emptyRequestStats();
    addRequest(stats, { textBytes: 400, inputImages: 1, imageSize: '4K', candidateCount: null });
    addRequest(stats, { textBytes: 0, inputImages: 0, imageSize: null, candidateCount: 2 });
    // Input: 100 text tokens + 560 for the reference image, at 1,000 each.
    expect(batchInputTokens(PRO, stats)).toBe(660);
    const textPer = PRO.textAllowanceTokens;
    // Images: one 4K (2000 tokens) and two 1K (1120 each) at 60,000; text: two allowances at 6,000.
    const expected = 660 * 1_000 + (2000 + 2 * 1120) * 60_000 + 2 * textPer * 6_000;
    expect(batchHoldNanoUsd(PRO, stats, { holds: 'sized', atMs: AT })).toBe(BigInt(expected));
    const strict = 660 * 1_000 + (2000 + 2 * 1120) * 60_000 + 2 * PRO.outputTokenLimit * 6_000;
    expect(batchHoldNanoUsd(PRO, stats, { holds: 'strict', atMs: AT })).toBe(BigInt(strict));
    // A size the model does not make is held at its default size (Lite: 1K only).
    const lite = emptyRequestStats();
    addRequest(lite, { textBytes: 4, inputImages: 0, imageSize: '4K', candidateCount: null });
    expect(batchHoldNanoUsd(LITE, lite, { holds: 'sized', atMs: AT })).toBe(BigInt(1 * 125 + 1120 * 15_000 + LITE.textAllowanceTokens * 750));
  });

  it('derives record ids from the batch and the index alone, shaped like every other record id', () => {
    const id = batchRecordId(batch.name, 42, AT);
    expect(id).toBe(batchRecordId(batch.name, 42, AT));
    expect(id).not.toBe(batchRecordId(batch.name, 43, AT));
    expect(id).not.toBe(batchRecordId('batches/ffffffffffffffffffff', 42, AT));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Its time prefix is the batch's creation: records sort by time in the primary key.
    expect(id.slice(0, 8) + id.slice(9, 13)).toBe(AT.toString(16).padStart(12, '0'));
  });
});
