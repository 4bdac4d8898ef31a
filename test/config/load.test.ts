import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, substituteEnv } from '../../src/config/load.js';

const minimal = (extra = '') => `
projects:
  - id: default
    apiKey: \${GEMINI_API_KEY}
${extra}`;

function errorOf(text: string, env: Record<string, string> = { GEMINI_API_KEY: 'k' }): string {
  try {
    parseConfig(text, env, 'cfg');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('environment substitution', () => {
  it.each([
    ['${A}', { A: 'x' }, 'x'],
    ['${A:-fallback}', {}, 'fallback'],
    ['${A:-fallback}', { A: '' }, 'fallback'],
    ['${A:-}', {}, ''],
    ['pre-${A}-post', { A: 'mid' }, 'pre-mid-post'],
    ['$${A}', { A: 'x' }, '${A}'],
    ['${A:-http://h:1/p}', {}, 'http://h:1/p'],
  ])('turns %s into the expected text', (input, env, out) => {
    expect(substituteEnv(input, env)).toBe(out);
  });
});

describe('config validation', () => {
  it('fills the documented defaults', () => {
    const c = parseConfig(minimal(), { GEMINI_API_KEY: 'k' });
    expect(c.upstream).toEqual({ baseUrl: 'https://generativelanguage.googleapis.com', timeoutMs: 180_000, retries: 2 });
    // Today's Nano Banana Pro (models-2026-11.md §1): the preview id was shut down on 2026-06-25.
    expect(c.defaultModel).toBe('gemini-3-pro-image');
    expect(c.models).toEqual({ retired: 'redirect', liveCheckHours: 6, override: {} });
    expect(c.projects[0]!.tier).toBe('tier1');
    expect(c.store.onFailure).toBe('local');
    expect(c.server.bodyLimitBytes).toBe(67_108_864);
    expect(c.server.shutdownGraceMs).toBe(30_000);
    expect(c.database.path).toBe('data/nanogate.db');
    expect(Object.isFrozen(c.projects[0])).toBe(true);
  });

  it.each([
    ['a project limit on a retired model, which keeps its bucket', minimal('    limits:\n      gemini-2.5-flash-image: { rpm: 5 }')],
    ['an alias to a GA model', minimal('aliases:\n  poster: gemini-3-pro-image')],
    ['a default model named by alias', minimal('defaultModel: nano-banana-2')],
    ['a field of a model overridden', minimal('models:\n  retired: refuse\n  override:\n    gemini-3-pro-image: { textAllowanceTokens: 2048 }')],
  ])('accepts %s', (_what, text) => {
    expect(() => parseConfig(text, { GEMINI_API_KEY: 'k' })).not.toThrow();
  });

  it('accepts the shipped config', async () => {
    const { readFileSync } = await import('node:fs');
    const c = parseConfig(readFileSync('config/gateway.yaml', 'utf8'), { GEMINI_API_KEY: 'k' });
    expect(c.tenants[0]!.id).toBe('dev');
  });

  it.each([
    [minimal('    limits:\n      gemini-3-pro-image: { rpm: -5 }'), 'projects[0].limits.gemini-3-pro-image.rpm: must be a positive integer'],
    [minimal('    limits:\n      gemini-nano-banana-2.1: { rpm: 2.5 }'), 'projects[0].limits.gemini-nano-banana-2.1.rpm: must be a positive integer'],
    [minimal('    limits:\n      gemini-9: { rpm: 5 }'), 'projects[0].limits.gemini-9: unknown model'],
    [minimal('    tier: gold'), 'projects[0].tier: must be one of free, tier1, tier2, tier3'],
    [minimal('upstrem: {}'), 'upstrem: unknown key'],
    [minimal('upstream: { timeoutMs: 0 }'), 'upstream.timeoutMs: must be a positive integer'],
    [minimal('upstream: { baseUrl: not-a-url }'), 'upstream.baseUrl: must be an http(s) URL'],
    [minimal('tenants:\n  - id: t\n    project: nope'), 'tenants[0].project: unknown project nope'],
    [minimal('tenants:\n  - id: t\n    project: default\n    keys: ["abc"]'), 'tenants[0].keys[0]: must be "sha256:"'],
    [minimal('tenants:\n  - id: t\n    project: default\n    budget: { dailyUsd: -1 }'), 'tenants[0].budget.dailyUsd: must be a non-negative number of USD'],
    [minimal('aliases:\n  poster: gemini-9'), 'aliases.poster: unknown model gemini-9'],
    [minimal('aliases:\n  poster: nano-banana-pro'), 'aliases.poster: unknown model nano-banana-pro'],
    [minimal('defaultModel: gemini-9'), 'defaultModel: unknown model gemini-9'],
    [minimal('pricing:\n  gemini-3-pro-image: { standard: { input: 1 } }'), 'pricing: moved: set prices per model under models.override.<model-id>.prices'],
    [minimal('models: { retired: drop }'), 'models.retired: must be redirect or refuse'],
    [minimal('models:\n  override:\n    gemini-3-pro-image: { inputTokenLimit: -1 }'), 'models.override.gemini-3-pro-image.inputTokenLimit: must be positive'],
    [minimal('store: { onFailure: panic }'), 'store.onFailure: must be local or deny'],
    ['projects: []', 'projects: must list at least one project'],
    ['projects: [', 'invalid YAML'],
  ])('names the field path of a bad value', (text, message) => {
    expect(errorOf(text)).toContain(message);
  });

  it('refuses an empty Google key, pointing at the variable to set', () => {
    expect(errorOf(minimal(), {})).toContain('projects[0].apiKey: must be set to the Google API key (set GEMINI_API_KEY)');
  });
});
