import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** How `npm start` runs the gateway: the node flags and the environment its script sets. */
export interface StartCommand {
  nodeArgs: string[];
  env: Record<string, string>;
}

/**
 * Reads package.json's start script (`exec env NAME=${NAME:-default} … node --flag … dist/main.js`)
 * so the bench runs the gateway exactly as `npm start` does, from one source of truth.
 */
export function startCommand(root: string): StartCommand {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  return parseStartScript(pkg.scripts?.start ?? '');
}

export function parseStartScript(script: string): StartCommand {
  const words = script.trim().split(/\s+/);
  const nodeAt = words.indexOf('node');
  if (nodeAt < 0) throw new Error(`package.json's start script does not run node: ${script}`);
  const env: Record<string, string> = {};
  for (const word of words.slice(0, nodeAt)) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (!m) continue;
    // ${NAME:-default}: the default, as the shell gives it when NAME is unset.
    const value = /^\$\{[A-Z_][A-Z0-9_]*:-(.*)\}$/.exec(m[2]!)?.[1] ?? m[2]!;
    env[m[1]!] = value;
  }
  const nodeArgs = words.slice(nodeAt + 1).filter((w) => w.startsWith('--'));
  return { nodeArgs, env };
}
