import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase, type UsageQuery, type UsageRow } from '../../src/db/database.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { parseUsageQuery, renderUsageCsv, renderUsageJson, usageCsvFilename } from '../../src/usage/report.js';
import { FLASH, PRO, usageRecord } from '../db/usage-fixtures.js';

const sums = (costNanoUsd: bigint, requests = 1): Omit<UsageRow, 'tenant'> => ({
  requests,
  images: requests,
  inputTokens: 10 * requests,
  outputImageTokens: 1120 * requests,
  outputTextTokens: 2 * requests,
  thinkingTokens: 3 * requests,
  costNanoUsd,
});

function refusal(params: Record<string, unknown>, opts = {}): GatewayError {
  try {
    parseUsageQuery(params, opts);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('parseUsageQuery', () => {
  it.each<[string, Record<string, unknown>, UsageQuery, 'json' | 'csv']>([
    ['the bare minimum, grouped by day', { from: '2025-01-01', to: '2025-01-31' }, { fromDay: '2025-01-01', toDay: '2025-01-31', groupBy: ['day'] }, 'json'],
    [
      'every filter and a grouping list with spaces',
      { from: '2025-01-01', to: '2025-01-01', tenant: 'acme', project: 'p1', model: PRO, groupBy: 'tenant, model,day', format: 'csv' },
      { fromDay: '2025-01-01', toDay: '2025-01-01', tenantId: 'acme', projectId: 'p1', model: PRO, groupBy: ['tenant', 'model', 'day'] },
      'csv',
    ],
    ['an empty groupBy: totals only', { from: '2025-01-01', to: '2025-01-02', groupBy: '' }, { fromDay: '2025-01-01', toDay: '2025-01-02', groupBy: [] }, 'json'],
    ['empty filters count as absent', { from: '2025-01-01', to: '2025-01-02', tenant: '', project: '', model: '' }, { fromDay: '2025-01-01', toDay: '2025-01-02', groupBy: ['day'] }, 'json'],
    ['all six keys', { from: '2024-01-01', to: '2024-12-31', groupBy: 'month,key,project,day,model,tenant' }, { fromDay: '2024-01-01', toDay: '2024-12-31', groupBy: ['month', 'key', 'project', 'day', 'model', 'tenant'] }, 'json'],
  ])('accepts %s', (_name, params, query, format) => {
    expect(parseUsageQuery(params)).toEqual({ query, format });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a missing from', { to: '2025-01-01' }, 'from'],
    ['a missing to', { from: '2025-01-01' }, 'to'],
    ['a from that is not a date', { from: 'yesterday', to: '2025-01-01' }, 'from'],
    ['a date that does not exist', { from: '2025-02-29', to: '2025-03-01' }, 'from'],
    ['a to in another format', { from: '2025-01-01', to: '2025-1-31' }, 'to'],
    ['from after to', { from: '2025-02-01', to: '2025-01-31' }, 'to'],
    ['a range over 366 days', { from: '2024-01-01', to: '2025-01-01' }, 'to'],
    ['an unknown group key', { from: '2025-01-01', to: '2025-01-01', groupBy: 'tenant,week' }, 'groupBy'],
    ['a group key given twice', { from: '2025-01-01', to: '2025-01-01', groupBy: 'day,day' }, 'groupBy'],
    ['an empty group key in the list', { from: '2025-01-01', to: '2025-01-01', groupBy: 'day,' }, 'groupBy'],
    ['an unknown format', { from: '2025-01-01', to: '2025-01-01', format: 'xlsx' }, 'format'],
    ['a parameter given twice', { from: ['2025-01-01', '2025-01-02'], to: '2025-01-03' }, 'from'],
  ])('refuses %s, naming the parameter', (_name, params, param) => {
    const err = refusal(params);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.details.param).toBe(param);
    expect(err.message).toContain(param);
  });

  it.each<[string, string, string, string]>([
    ['a winter month', '2026-02-10T12:00:00Z', '2026-02-01', '2026-02-28'],
    ['a leap February', '2028-02-29T12:00:00Z', '2028-02-01', '2028-02-29'],
    // 2026-12-01T05:00Z is still Nov 30 in Los Angeles: the Pacific month, not the UTC one.
    ['the last evening of a Pacific month', '2026-12-01T05:00:00Z', '2026-11-01', '2026-11-30'],
    ['the first hour of one', '2026-11-01T07:30:00Z', '2026-11-01', '2026-11-30'],
  ])('defaults from and to to the current Pacific month (#13.5): %s', (_name, now, from, to) => {
    const { query } = parseUsageQuery({}, { nowMs: Date.parse(now) });
    expect([query.fromDay, query.toDay]).toEqual([from, to]);
    expect(parseUsageQuery({ from: '2026-11-15' }, { nowMs: Date.parse('2026-11-20T12:00:00Z') }).query).toMatchObject({ fromDay: '2026-11-15', toDay: '2026-11-30' });
  });

  it('takes user and key as group keys and as filters (#13.5)', () => {
    expect(parseUsageQuery({ from: '2026-11-01', to: '2026-11-02', groupBy: 'user,key', user: 'alice@example.com', key: 'key_1' })).toEqual({
      query: { fromDay: '2026-11-01', toDay: '2026-11-02', groupBy: ['user', 'key'], user: 'alice@example.com', keyId: 'key_1' },
      format: 'json',
    });
  });

  it('accepts a range of exactly 366 days, a leap year', () => {
    expect(parseUsageQuery({ from: '2024-01-01', to: '2024-12-31' }).query.fromDay).toBe('2024-01-01');
  });

  it('limits a tenant to its own rows and refuses another tenant', () => {
    expect(parseUsageQuery({ from: '2025-01-01', to: '2025-01-01' }, { scopeTenantId: 'acme' }).query.tenantId).toBe('acme');
    expect(parseUsageQuery({ from: '2025-01-01', to: '2025-01-01', tenant: 'acme' }, { scopeTenantId: 'acme' }).query.tenantId).toBe('acme');
    const err = refusal({ from: '2025-01-01', to: '2025-01-01', tenant: 'rival' }, { scopeTenantId: 'acme' });
    expect([err.code, err.details.param]).toEqual(['FORBIDDEN', 'tenant']);
  });
});

describe('renderUsageJson', () => {
  const q: UsageQuery = { fromDay: '2025-01-01', toDay: '2025-01-31', groupBy: ['tenant', 'model'] };

  it('renders rows with their group keys first and costs as 6-decimal strings rounded half-up', () => {
    const out = renderUsageJson(q, [
      { tenant: 'a', model: PRO, ...sums(134_440_000n, 2) },
      { tenant: 'b', model: FLASH, ...sums(499n) },
    ]);
    expect(out).toEqual({
      from: '2025-01-01',
      to: '2025-01-31',
      groupBy: ['tenant', 'model'],
      rows: [
        { tenant: 'a', model: PRO, requests: 2, images: 2, inputTokens: 20, outputImageTokens: 2240, outputTextTokens: 4, thinkingTokens: 6, costUsd: '0.134440' },
        { tenant: 'b', model: FLASH, requests: 1, images: 1, inputTokens: 10, outputImageTokens: 1120, outputTextTokens: 2, thinkingTokens: 3, costUsd: '0.000000' },
      ],
      totals: { requests: 3, images: 3, inputTokens: 30, outputImageTokens: 3360, outputTextTokens: 6, thinkingTokens: 9, costUsd: '0.134440' },
    });
    expect(Object.keys(out.rows[0] ?? {}).slice(0, 2)).toEqual(['tenant', 'model']);
  });

  it.each<[string, bigint[], string[], string]>([
    ['half a micro-dollar rounds up, and the total is rounded once from the exact sum', [500n, 500n, 500n], ['0.000001', '0.000001', '0.000001'], '0.000002'],
    ['just under half rounds down', [499n, 499n, 1n], ['0.000000', '0.000000', '0.000000'], '0.000001'],
    [
      'sums past 2^53 nano-USD stay exact',
      [BigInt(Number.MAX_SAFE_INTEGER), BigInt(Number.MAX_SAFE_INTEGER), 7n],
      ['9007199.254741', '9007199.254741', '0.000000'],
      '18014398.509482',
    ],
    ['no rows', [], [], '0.000000'],
  ])('totals costs in nano-USD: %s', (_name, costs, rowCosts, total) => {
    const out = renderUsageJson(q, costs.map((c, i) => ({ tenant: `t${i}`, model: PRO, ...sums(c) })));
    expect(out.rows.map((r) => r.costUsd)).toEqual(rowCosts);
    expect(out.totals.costUsd).toBe(total);
    expect(out.totals.requests).toBe(costs.length);
  });
});

describe('renderUsageCsv', () => {
  it('writes a header and one CRLF line per row, with a cost_usd column', () => {
    const q: UsageQuery = { fromDay: '2025-01-01', toDay: '2025-01-31', groupBy: ['day', 'tenant'] };
    const csv = renderUsageCsv(q, [
      { day: '2025-01-01', tenant: 'a', ...sums(134_440_000n, 2) },
      { day: '2025-01-02', tenant: 'b', ...sums(1_500n) },
    ]);
    expect(csv).toBe(
      'day,tenant,requests,images,input_tokens,output_image_tokens,output_text_tokens,thinking_tokens,cost_usd\r\n' +
        '2025-01-01,a,2,2,20,2240,4,6,0.134440\r\n' +
        '2025-01-02,b,1,1,10,1120,2,3,0.000002\r\n',
    );
  });

  it.each([
    ['a comma', 'team, west', '"team, west"'],
    ['a quote', 'the "A" team', '"the ""A"" team"'],
    ['a line break', 'two\nlines', '"two\nlines"'],
    ['a formula', '=HYPERLINK("x")', `"'=HYPERLINK(""x"")"`],
    ['a leading minus', '-team', "'-team"],
    ['a leading at sign', '@team', "'@team"],
    ['nothing special', 'plain-team_1', 'plain-team_1'],
  ])('quotes a key holding %s as RFC 4180 says, and defuses formulas', (_name, tenant, cell) => {
    const csv = renderUsageCsv({ fromDay: '2025-01-01', toDay: '2025-01-01', groupBy: ['tenant'] }, [{ tenant, ...sums(0n) }]);
    expect(csv.split('\r\n')[1]).toBe(`${cell},1,1,10,1120,2,3,0.000000`);
  });

  it('writes only the header when there are no rows, and names the file after the range', () => {
    const q: UsageQuery = { fromDay: '2025-01-01', toDay: '2025-01-31', groupBy: [] };
    expect(renderUsageCsv(q, [])).toBe('requests,images,input_tokens,output_image_tokens,output_text_tokens,thinking_tokens,cost_usd\r\n');
    expect(usageCsvFilename(q)).toBe('usage_2025-01-01_2025-01-31.csv');
  });
});

describe('a report from the database', () => {
  it('totals equal the database total exactly, from URL parameters to JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nanogate-report-'));
    const db = await openDatabase({ sqlitePath: join(dir, 'nanogate.db') });
    try {
      await db.migrate();
      const costs = [333_333_333, 333_333_333, 333_333_334, 1_499, 1];
      await db.insertUsage(costs.map((c, i) => usageRecord(`2025-03-0${i + 1}T18:00:00Z`, { costNanoUsd: c, tenantId: i % 2 ? 'b' : 'a' })));
      const { query } = parseUsageQuery({ from: '2025-03-01', to: '2025-03-31', groupBy: 'tenant,day' });
      const out = renderUsageJson(query, await db.queryUsage(query));
      expect(out.rows.map((r) => [r.tenant, r.day, r.costUsd])).toEqual([
        ['a', '2025-03-01', '0.333333'],
        ['a', '2025-03-03', '0.333333'],
        ['a', '2025-03-05', '0.000000'],
        ['b', '2025-03-02', '0.333333'],
        ['b', '2025-03-04', '0.000001'],
      ]);
      expect(out.totals.costUsd).toBe('1.000002');
      expect(out.totals.requests).toBe(5);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
