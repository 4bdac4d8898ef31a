import { describe, expect, it } from 'vitest';
import { startLine, type StartLineInput } from '../../src/ops/start-line.js';

const base: StartLineInput = {
  version: '1.0.0',
  configPath: 'config/gateway.yaml',
  address: 'http://127.0.0.1:8080',
  store: 'Redis redis://r:6379',
  database: 'SQLite data/nanogate.db',
  admin: true,
  tenants: 2,
  keys: 3,
  projects: [
    { id: 'a', tier: 'tier1', models: 3 },
    { id: 'b', tier: 'tier2', models: 3 },
  ],
};

describe('the start line with pools (#17)', () => {
  it('lists each pool with its strategy and projects', () => {
    const line = startLine({
      ...base,
      pools: [
        { id: 'main', strategy: 'order', projects: [{ project: 'a', weight: 1 }, { project: 'b', weight: 1 }] },
        { id: 'spread', strategy: 'weight', projects: [{ project: 'c', weight: 3 }, { project: 'd', weight: 1 }] },
      ],
    });
    expect(line.endsWith(' | pools: main (in order: a > b), spread (by weight: c×3, d×1)')).toBe(true);
  });

  it('is the line it always was without pools', () => {
    expect(startLine(base)).not.toContain('pools');
    expect(startLine({ ...base, pools: [] })).toBe(startLine(base));
  });
});
