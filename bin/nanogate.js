#!/usr/bin/env node
import { isBuiltin } from 'node:module';

// Checked before anything loads: on an older Node the gateway fails deep inside, with a message
// about a missing module rather than about Node (#12). npx and npm scripts put the Node pinned
// in node_modules (22) first on PATH; a bare `node bin/nanogate.js` uses whatever node is first.
if (!isBuiltin('node:sqlite')) {
  process.stderr.write(
    `nanogate needs Node.js 22.13 or later (it uses node:sqlite); this is Node.js ${process.version}.\n` +
      'Run it as `npx nanogate ...` in the project (npm uses the Node pinned in node_modules), or install Node.js 22.\n',
  );
  process.exit(1);
}
const { runCli } = await import('../dist/cli.js');

process.exitCode = runCli(process.argv.slice(2), process.env, (s) => process.stdout.write(`${s}\n`), (s) => process.stderr.write(`${s}\n`));
