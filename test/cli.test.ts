import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';

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
    const dir = mkdtempSync(join(tmpdir(), 'nanogate-cli-'));
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
