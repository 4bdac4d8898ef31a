/**
 * The text-and-thinking allowance of budget holds (#13.1): the model table's figure until a
 * model has been seen, then the 99th percentile of its recent calls, bounded by its output
 * limit; seeded from the ledger at start.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RecentUsageQuery } from '../../src/db/database.js';
import { loadModelTable } from '../../src/models/model-table.js';
import { formatUsd } from '../../src/usage/money.js';
import { priceAt } from '../../src/models/catalog.js';
import type { UsageRecord } from '../../src/usage/record.js';
import { ALLOWANCE_MIN_SAMPLES, ALLOWANCE_WINDOW, seedTextAllowance, TextAllowance } from '../../src/usage/text-allowance.js';
import { usageRecord } from '../db/usage-fixtures.js';

const TABLE = loadModelTable();
const PRO = TABLE.byId.get('gemini-3-pro-image')!;
const LITE = TABLE.byId.get('gemini-3.1-flash-lite-image')!;

describe('TextAllowance', () => {
  it("holds the model table's allowance until enough calls of the model were seen", () => {
    const a = new TextAllowance();
    expect(a.allowanceTokens(PRO)).toBe(PRO.textAllowanceTokens);
    for (let i = 0; i < ALLOWANCE_MIN_SAMPLES - 1; i++) a.observe(PRO.id, 40);
    expect(a.view(PRO)).toEqual({ model: PRO.id, allowanceTokens: 4096, source: 'table', samples: ALLOWANCE_MIN_SAMPLES - 1 });
    a.observe(PRO.id, 40);
    expect(a.view(PRO)).toEqual({ model: PRO.id, allowanceTokens: 40, source: 'observed', samples: ALLOWANCE_MIN_SAMPLES });
    // Another model learns nothing from it.
    expect(a.allowanceTokens(LITE)).toBe(LITE.textAllowanceTokens);
  });

  it.each<[string, number[], number]>([
    ['one outlier in a hundred is left out', [...Array.from({ length: 99 }, () => 38), 20_000], 38],
    ['two in a hundred are not', [...Array.from({ length: 98 }, () => 38), 20_000, 21_000], 20_000],
    ['nearest rank over 1..200', Array.from({ length: 200 }, (_, i) => i + 1), 198],
    ['an image model that writes nothing', Array.from({ length: 50 }, () => 0), 0],
  ])('takes the 99th percentile: %s', (_name, samples, expected) => {
    const a = new TextAllowance();
    for (const s of samples) a.observe(PRO.id, s);
    expect(a.allowanceTokens(PRO)).toBe(expected);
  });

  it("never allows more than the model's output limit", () => {
    const a = new TextAllowance();
    for (let i = 0; i < 100; i++) a.observe(LITE.id, 50_000);
    expect(a.allowanceTokens(LITE)).toBe(LITE.outputTokenLimit);
  });

  it('forgets calls older than its window', () => {
    const a = new TextAllowance();
    for (let i = 0; i < ALLOWANCE_WINDOW; i++) a.observe(PRO.id, 5_000);
    expect(a.allowanceTokens(PRO)).toBe(5_000);
    for (let i = 0; i < ALLOWANCE_WINDOW; i++) a.observe(PRO.id, 30);
    expect(a.allowanceTokens(PRO)).toBe(30);
    expect(a.view(PRO).samples).toBe(ALLOWANCE_WINDOW);
  });
});

describe("the README's overshoot bound", () => {
  it("is the model table's: (output limit − table allowance) × text rate, for Pro", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const rate = priceAt(PRO, Date.parse('2026-11-27T18:00:00Z')).standard.textOutputNanoPerToken;
    const excess = (PRO.outputTokenLimit - PRO.textAllowanceTokens) * rate;
    const n = (v: number) => v.toLocaleString('en-US');
    expect(readme).toContain(`(${n(PRO.outputTokenLimit)} − ${n(PRO.textAllowanceTokens)}) × $${rate / 1000}/M = **$${formatUsd(excess)}**`);
  });
});

describe('seedTextAllowance', () => {
  const record = (over: Partial<UsageRecord>) => usageRecord('2026-11-27T18:00:00Z', { model: PRO.id, ...over });

  it("learns from the ledger's newest successful calls of each model, leaving out failed and aborted ones", async () => {
    const asked: RecentUsageQuery[] = [];
    const rows: Record<string, UsageRecord[]> = {
      [PRO.id]: [
        ...Array.from({ length: 30 }, () => record({ outputTextTokens: 8, thinkingTokens: 30 })),
        record({ outputTextTokens: 9_000, thinkingTokens: 0, flags: ['aborted'] }),
        record({ outputTextTokens: 9_000, thinkingTokens: 0, usageMetadata: null }),
      ],
    };
    const a = new TextAllowance();
    await seedTextAllowance(a, {
      db: {
        recentUsage: async (q) => {
          asked.push(q);
          return rows[q.model!] ?? [];
        },
      },
      models: [PRO, LITE],
    });
    expect(asked).toEqual([
      { limit: ALLOWANCE_WINDOW, model: PRO.id, httpStatus: { from: 200, to: 200 } },
      { limit: ALLOWANCE_WINDOW, model: LITE.id, httpStatus: { from: 200, to: 200 } },
    ]);
    expect(a.view(PRO)).toMatchObject({ allowanceTokens: 38, source: 'observed', samples: 30 });
    expect(a.view(LITE)).toMatchObject({ source: 'table', samples: 0 });
  });

  it("keeps the table's figures when the ledger cannot be read", async () => {
    const a = new TextAllowance();
    await seedTextAllowance(a, { db: { recentUsage: async () => Promise.reject(new Error('connection refused')) }, models: [PRO] });
    expect(a.allowanceTokens(PRO)).toBe(PRO.textAllowanceTokens);
  });
});
