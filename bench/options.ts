/**
 * The bench's command line, apart from run.ts so it can be tested without running a bench.
 */
import { join, resolve } from 'node:path';
import { ALL_FACES, BODIES, FACES, type BodyKind, type Face } from './scenarios.js';

/** What a run measures: the HTTP segments, quota admission, ledger writes. */
export const PARTS = ['http', 'admission', 'ledger'] as const;
export type Part = (typeof PARTS)[number];

export interface Options {
  mode: 'quick' | 'full';
  runs: number;
  warmupMs: number;
  measureMs: number;
  rounds: number;
  redis: boolean;
  /** Portkey's gateway in the same run, and the chat face it relays (--peers). */
  peers: boolean;
  faces: Face[];
  bodies: BodyKind[];
  profileDir?: string;
  outPath: string;
  parts: Part[];
}

export const USAGE = `usage: npm run bench -- [--quick] [--runs N] [--redis] [--peers] [--bodies ${BODIES.join(',')}]
                     [--faces ${ALL_FACES.join(',')}] [--parts http,admission,ledger]
                     [--profile DIR] [--out FILE]`;

/** A mistake in the command line: told in one line with the usage, not as a stack trace. */
export class UsageError extends Error {}

/** --help: the caller prints the usage and exits. */
export class HelpRequested extends Error {}

function listArg<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T[] {
  if (value === undefined) throw new UsageError(`${name} needs a value`);
  const items = value.split(',').map((s) => s.trim());
  for (const item of items) if (!allowed.includes(item as T)) throw new UsageError(`${name}: "${item}" is not one of ${allowed.join(', ')}`);
  return items as T[];
}

/**
 * `root`: the repository root (the default --out is under it). --peers adds the chat face, the
 * one route Portkey relays to Google, to whatever faces are chosen.
 */
export function parseOptions(argv: readonly string[], root: string): Options {
  const quick = argv.includes('--quick');
  const opts: Options = {
    mode: quick ? 'quick' : 'full',
    runs: quick ? 1 : 3,
    warmupMs: 500,
    measureMs: quick ? 2_000 : 2_500,
    rounds: quick ? 2 : 3,
    redis: false,
    peers: false,
    faces: [...FACES],
    bodies: [...BODIES],
    outPath: join(root, 'bench/results/latest.json'),
    parts: [...PARTS],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = () => argv[++i];
    if (arg === '--help' || arg === '-h') throw new HelpRequested();
    if (arg === '--quick' || arg === '--check') continue;
    else if (arg === '--runs') {
      opts.runs = Number(next());
      if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new UsageError('--runs needs a positive integer');
    } else if (arg === '--redis') opts.redis = true;
    else if (arg === '--peers') opts.peers = true;
    else if (arg === '--faces') {
      const chosen = listArg(next(), ALL_FACES, '--faces');
      opts.faces = ALL_FACES.filter((f) => chosen.includes(f));
    } else if (arg === '--bodies') {
      const chosen = listArg(next(), BODIES, '--bodies');
      opts.bodies = BODIES.filter((b) => chosen.includes(b));
    } else if (arg === '--profile') opts.profileDir = resolve(next() ?? '/tmp/nanogate-prof');
    else if (arg === '--out') opts.outPath = resolve(next() ?? opts.outPath);
    else if (arg === '--parts') {
      const chosen = listArg(next(), PARTS, '--parts');
      opts.parts = PARTS.filter((p) => chosen.includes(p));
    } else throw new UsageError(`unknown option ${arg}`);
  }
  if (opts.peers && !opts.faces.includes('chat')) opts.faces = ALL_FACES.filter((f) => f === 'chat' || opts.faces.includes(f));
  return opts;
}
