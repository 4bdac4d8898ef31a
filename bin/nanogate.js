#!/usr/bin/env node
import { runCli } from '../dist/cli.js';

process.exitCode = runCli(process.argv.slice(2), process.env, (s) => process.stdout.write(`${s}\n`), (s) => process.stderr.write(`${s}\n`));
