import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStartScript, startCommand } from '../../bench/start-command.js';

const REPO = resolve(import.meta.dirname, '..', '..');

describe('the start command', () => {
  it('reads the node flags and the environment defaults of a start script', () => {
    expect(parseStartScript('exec env MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2} node --max-semi-space-size=4 --disable-warning=X dist/main.js')).toEqual({
      nodeArgs: ['--max-semi-space-size=4', '--disable-warning=X'],
      env: { MALLOC_ARENA_MAX: '2' },
    });
    expect(parseStartScript('node dist/main.js')).toEqual({ nodeArgs: [], env: {} });
    expect(() => parseStartScript('tsx src/main.ts')).toThrow(/does not run node/);
  });

  it('is the same in package.json (npm start, the bench) and in the Dockerfile', () => {
    const start = startCommand(REPO);
    const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd.slice(1).filter((w) => w.startsWith('--'))).toEqual(start.nodeArgs);
    for (const [name, value] of Object.entries(start.env)) expect(dockerfile).toMatch(new RegExp(`^\\s+${name}=${value}\\b`, 'm'));
    expect(start.nodeArgs).toContain('--max-semi-space-size=8');
  });
});
