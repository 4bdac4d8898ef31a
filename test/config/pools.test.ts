import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';

const KEY_HASH = `sha256:${'a'.repeat(64)}`;

const config = (pools: string, tenants: string) => `
projects:
  - { id: a, apiKey: ka }
  - { id: b, apiKey: kb }
  - { id: c, apiKey: kc }
pools:
${pools}
tenants:
${tenants}
`;

function errorOf(text: string): string {
  try {
    parseConfig(text, {}, 'cfg');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('pools in the config (#17)', () => {
  it('accepts a pool, fills its strategy and weights, and a tenant naming it', () => {
    const c = parseConfig(config('  - { id: main, projects: [{ project: a }, { project: b, weight: 3 }] }', `  - { id: t, pool: main, keys: ["${KEY_HASH}"] }`), {});
    expect(c.pools).toEqual([{ id: 'main', strategy: 'order', projects: [{ project: 'a', weight: 1 }, { project: 'b', weight: 3 }], signatureTtlHours: 168 }]);
    expect(c.tenants[0]).toMatchObject({ id: 't', pool: 'main' });
  });

  it('is empty by default', () => {
    expect(parseConfig('projects: [{ id: a, apiKey: k }]', {}).pools).toEqual([]);
  });

  it.each([
    ['a tenant naming both a project and a pool', '  - { id: main, projects: [{ project: a }] }', '  - { id: t, project: a, pool: main }', 'tenants[0]: name either a project or a pool'],
    ['a tenant naming neither', '  - { id: main, projects: [{ project: a }] }', '  - { id: t }', 'tenants[0]: name either a project or a pool'],
    ['an unknown pool', '  - { id: main, projects: [{ project: a }] }', '  - { id: t, pool: other }', 'tenants[0].pool: unknown pool other'],
    ['an unknown project in a pool', '  - { id: main, projects: [{ project: z }] }', '  - { id: t, pool: main }', 'pools[0].projects[0].project: unknown project z'],
    [
      'a project in two pools',
      '  - { id: one, projects: [{ project: a }] }\n  - { id: two, projects: [{ project: b }, { project: a }] }',
      '  - { id: t, pool: one }',
      'pools[1].projects[1].project: a is already in pool one',
    ],
    ['a duplicate pool id', '  - { id: one, projects: [{ project: a }] }\n  - { id: one, projects: [{ project: b }] }', '  - { id: t, pool: one }', 'pools[1].id: duplicate pool id one'],
    ['an empty pool', '  - { id: one, projects: [] }', '  - { id: t, pool: one }', 'pools[0].projects: must list at least one project'],
    ['an unknown strategy', '  - { id: one, strategy: random, projects: [{ project: a }] }', '  - { id: t, pool: one }', 'pools[0].strategy: must be order or weight'],
  ])('refuses %s, naming the field', (_name, pools, tenants, message) => {
    expect(errorOf(config(pools, tenants))).toContain(message);
  });
});
