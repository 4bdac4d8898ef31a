import { describe, expect, it } from 'vitest';
import { HelpRequested, parseOptions, PARTS, UsageError } from '../../bench/options.js';
import { FACES } from '../../bench/scenarios.js';

const ROOT = '/repo';

describe('bench options', () => {
  it('without --peers: the default faces, no chat face, no peers', () => {
    const opts = parseOptions([], ROOT);
    expect(opts.peers).toBe(false);
    expect(opts.faces).toEqual([...FACES]);
    expect(opts.faces).not.toContain('chat');
    expect(opts.parts).toEqual([...PARTS]);
    expect(opts.outPath).toBe('/repo/bench/results/latest.json');
    expect(opts).toMatchObject({ mode: 'full', runs: 3, rounds: 3 });
  });

  it('--quick keeps one run of short segments', () => {
    expect(parseOptions(['--quick'], ROOT)).toMatchObject({ mode: 'quick', runs: 1, rounds: 2, measureMs: 2_000 });
  });

  it('--peers adds the chat face, the route Portkey relays, to the faces chosen', () => {
    const opts = parseOptions(['--quick', '--peers', '--parts', 'http', '--bodies', 'tiny,1K,4K', '--faces', 'generateContent,openai'], ROOT);
    expect(opts.peers).toBe(true);
    expect(opts.faces).toEqual(['generateContent', 'openai', 'chat']);
    expect(opts.bodies).toEqual(['tiny', '1K', '4K']);
    expect(opts.parts).toEqual(['http']);
    expect(parseOptions(['--peers'], ROOT).faces).toEqual([...FACES, 'chat']);
  });

  it('--faces takes chat on its own, in print order, and --peers does not add it twice', () => {
    expect(parseOptions(['--faces', 'chat,generateContent'], ROOT).faces).toEqual(['generateContent', 'chat']);
    expect(parseOptions(['--faces', 'chat', '--peers'], ROOT).faces).toEqual(['chat']);
  });

  it('tells mistakes as usage errors and --help as a request for the usage', () => {
    expect(() => parseOptions(['--faces', 'images'], ROOT)).toThrow(UsageError);
    expect(() => parseOptions(['--peer'], ROOT)).toThrow(/unknown option --peer/);
    expect(() => parseOptions(['--runs', '0'], ROOT)).toThrow(UsageError);
    expect(() => parseOptions(['--faces'], ROOT)).toThrow(/needs a value/);
    expect(() => parseOptions(['--help'], ROOT)).toThrow(HelpRequested);
  });
});
