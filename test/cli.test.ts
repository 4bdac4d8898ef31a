import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { tempDir } from './support/temp-dir.js';

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = runCli(args, env, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('nanogate command', () => {
  it('prints the sha256 form of a key for the config file', () => {
    expect(run(['hash-key', 'test'])).toEqual({ code: 0, out: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', err: '' });
    expect(run(['hash-key']).code).toBe(2);
  });

  it('validates the shipped config and names the field path of a bad one', () => {
    expect(run(['check-config', 'config/gateway.yaml'], { GEMINI_API_KEY: 'k' })).toMatchObject({ code: 0 });
    const dir = tempDir('nanogate-cli-');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'projects:\n  - id: default\n    apiKey: k\n    tier: gold\n');
    const r = run(['check-config', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('projects[0].tier: must be one of free, tier1, tier2, tier3');
    expect(run(['check-config', join(dir, 'missing.yaml')]).code).toBe(1);
  });

  it('answers an unknown command with its usage and exit code 2', () => {
    const r = run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('usage:');
  });
});

describe('nanogate models (#11)', () => {
  const TODAY = ['--at', '2026-11-28'];

  it('prints the table a person reads: names, model, stage, shutdown, USD per image by size, the tier\'s limits', () => {
    const r = run(['models', ...TODAY]);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('Model table at 2026-11-28 (limits: tier1; retired names: redirect).');
    const row = (start: string) => lines.map((l) => l.replace(/ {2,}/g, ' | ')).find((l) => l.startsWith(start));
    expect(row('name(s)')).toBe('name(s) | model | stage | shutdown | USD per image: standard / batch | limits (tier1)');
    // The shipped config's OpenAI names (#14.5) come first, in name order.
    expect(row('gpt-image-1 |')).toBe('gpt-image-1 | gemini-3-pro-image | GA | — | 1K 0.134400 / 0.067200 | rpm 20, tpm 100000, rpd 250, ipm 20, batch tokens 2000000');
    expect(row('nano-banana-pro |')).toBe('nano-banana-pro | (Nano Banana Pro) | 2K 0.134400 / 0.067200');
    expect(row('dall-e-2 |')).toBe('dall-e-2 | gemini-3.1-flash-lite-image | GA | — | 1K 0.033600 / 0.016800 | rpm 100, tpm 1000000, rpd 1000, ipm 100, batch tokens 2000000');
    expect(row('— | gemini-3.1-flash-image |')).toBe('— | gemini-3.1-flash-image | deprecated | not announced | 512 0.044820 / 0.022410 | rpm 100, tpm 1000000, rpd 1000, ipm 100, batch tokens 2000000');
    // Retired: shown with where its requests go, no price or limits of its own.
    expect(row('— | gemini-2.5-flash-image |')).toBe('— | gemini-2.5-flash-image | retired | 2026-10-02 | requests go to gemini-3.1-flash-lite-image | —');
    expect(r.out).toContain('4K 0.240000 / 0.120000');
  });

  it('prints the same data as JSON, with the limits of the tier asked for', () => {
    const r = run(['models', ...TODAY, '--json', '--tier', 'tier3']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as { at: string; tier: string; retired: string; models: Array<Record<string, unknown>> };
    expect(report).toMatchObject({ at: '2026-11-28T00:00:00.000Z', tier: 'tier3', retired: 'redirect' });
    expect(report.models[0]).toEqual({
      id: 'gemini-3-pro-image',
      displayName: 'Nano Banana Pro',
      aliases: ['gpt-image-1', 'nano-banana-pro', 'nano-banana-pro-preview'],
      stage: 'ga',
      released: '2026-05-28',
      deprecatedAt: null,
      shutdownAt: null,
      replacement: null,
      retired: false,
      servedBy: 'gemini-3-pro-image',
      imageSizes: ['1K', '2K', '4K'],
      pricesUsdPerImage: { standard: { '1K': '0.134400', '2K': '0.134400', '4K': '0.240000' }, batch: { '1K': '0.067200', '2K': '0.067200', '4K': '0.120000' } },
      batch: true,
      priceFrom: '2025-11-20',
      limits: { rpm: 500, tpm: 4000000, rpd: 20000, ipm: 500 },
      batchTokens: 200000000,
    });
    expect(report.models.find((m) => m['id'] === 'gemini-2.5-flash-image')).toMatchObject({ retired: true, servedBy: 'gemini-3.1-flash-lite-image', pricesUsdPerImage: { standard: { '1K': '0.038700' } } });
    expect(report.models.filter((m) => m['retired']).map((m) => m['id'])).toEqual([
      'gemini-2.5-flash-image',
      'gemini-3-pro-image-preview',
      'gemini-3.1-flash-image-preview',
      'gemini-2.5-flash-image-preview',
    ]);
  });

  it("shows the config's overrides, aliases and models.retired, and the price row in force at --at", () => {
    const dir = tempDir('nanogate-cli-');
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      [
        'projects: [{ id: default, apiKey: k }]',
        'aliases: { poster: gemini-3-pro-image }',
        'models:',
        '  retired: refuse',
        '  override:',
        '    gemini-3-pro-image:',
        '      prices:',
        '        - { from: 2025-11-20, standard: { input: 2, textOutput: 12, imageOutput: 120 }, batch: { input: 1, textOutput: 6, imageOutput: 60 } }',
        '        - { from: 2026-12-01, standard: { input: 2, textOutput: 12, imageOutput: 100 }, batch: { input: 1, textOutput: 6, imageOutput: 50 } }',
      ].join('\n'),
    );
    const at = (day: string) => JSON.parse(run(['models', '--config', file, '--json', '--at', day]).out) as { retired: string; models: Array<Record<string, unknown>> };
    const before = at('2026-11-30');
    expect(before.retired).toBe('refuse');
    expect(before.models[0]).toMatchObject({ aliases: ['nano-banana-pro', 'nano-banana-pro-preview', 'poster'], priceFrom: '2025-11-20', pricesUsdPerImage: { standard: { '1K': '0.134400' } } });
    expect(at('2026-12-01').models[0]).toMatchObject({ priceFrom: '2026-12-01', pricesUsdPerImage: { standard: { '1K': '0.112000' }, batch: { '1K': '0.056000' } } });
    // Under refuse a retired model is served by nothing: the table says what the 404 names.
    expect(before.models.find((m) => m['id'] === 'gemini-3-pro-image-preview')).toMatchObject({ retired: true, servedBy: null, replacement: 'gemini-3-pro-image' });
    expect(run(['models', '--config', file, '--at', '2026-11-30']).out).toContain('refused (404): use gemini-3-pro-image');
  });

  it('refuses a bad option with its usage (exit 2) and a bad table entry with its field path (exit 1)', () => {
    expect(run(['models', '--tier', 'gold'])).toMatchObject({ code: 2, err: expect.stringContaining('--tier must be one of free, tier1, tier2, tier3') });
    expect(run(['models', '--at', 'someday']).code).toBe(2);
    expect(run(['models', '--frobnicate']).code).toBe(2);
    expect(run(['models', '--config']).code).toBe(2);
    const dir = tempDir('nanogate-cli-');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'projects: [{ id: default, apiKey: k }]\nmodels:\n  override:\n    gemini-3-pro-image: { inputTokenLimit: -1 }\n');
    const r = run(['models', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('models.override.gemini-3-pro-image.inputTokenLimit');
  });

  it("is the README's model table: the README section equals the command's markdown", () => {
    const readme = readFileSync('README.md', 'utf8');
    const m = /<!-- models-table: npx nanogate (models[^>]*?) -->\n([\s\S]*?)\n<!-- \/models-table -->/.exec(readme);
    expect(m, 'README.md needs the models-table markers under "### Models"').not.toBeNull();
    const args = m![1]!.trim().split(/\s+/);
    const r = run(args);
    expect(r.code).toBe(0);
    // If this fails, the table changed: regenerate the section with the command in its marker.
    expect(m![2]).toBe(r.out);
  });
});
