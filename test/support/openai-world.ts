/**
 * A gateway on the mock of Google with what the #14 suites need: OpenAI's model names as the
 * shipped config maps them, hosted images in a folder of the test's own, and optionally image
 * hosts to allow, a database, a clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import type { Clock } from '../../src/time/clock.js';
import { hashKey } from '../../src/tenants/keys.js';
import { GOOGLE_KEY, TENANT_KEY, startGateway, type RunningGateway } from './gateway-harness.js';

/** The aliases of the shipped config (config/gateway.yaml), so the tests see what operators get. */
export function shippedAliases(): Record<string, string> {
  const doc = parse(readFileSync('config/gateway.yaml', 'utf8').replace(/\$\{[^}]*\}/g, '')) as { aliases: Record<string, string> };
  return doc.aliases;
}

export interface WorldOptions {
  upstreamUrl: string;
  imageUrlHosts?: string[];
  databaseUrl?: string;
  clock?: Clock;
  /** Extra YAML for the tenant (limits, budget). */
  tenantExtra?: string;
  imagesDir?: string;
  /** openai.answerMemoryMB: how much of Google's answers wait in memory before spool files. */
  answerMemoryMB?: number;
}

export interface World extends RunningGateway {
  imagesDir: string;
}

export async function startWorld(opts: WorldOptions): Promise<World> {
  const imagesDir = opts.imagesDir ?? mkdtempSync(join(tmpdir(), 'nanogate-images-'));
  const aliases = Object.entries(shippedAliases())
    .map(([k, v]) => `  ${k}: ${v}`)
    .join('\n');
  const yaml = `
upstream:
  baseUrl: $UPSTREAM
  timeoutMs: 5000
  retries: 2
defaultModel: nano-banana-pro
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
tenants:
  - id: design
    project: default
    keys: ["${hashKey(TENANT_KEY)}"]
${opts.tenantExtra ?? ''}
aliases:
${aliases}
database:
  path: $DB_PATH
openai:
  imageUrlHosts: ${JSON.stringify(opts.imageUrlHosts ?? [])}
${opts.answerMemoryMB !== undefined ? `  answerMemoryMB: ${opts.answerMemoryMB}` : ''}
  hostedImages:
    directory: ${imagesDir}
`;
  const gw = await startGateway({
    upstreamUrl: opts.upstreamUrl,
    configYaml: yaml,
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  return {
    ...gw,
    imagesDir,
    async close() {
      await gw.close();
      if (!opts.imagesDir) rmSync(imagesDir, { recursive: true, force: true });
    },
  };
}

/** The generateContent / streamGenerateContent bodies the mock received, parsed: Google's wire JSON, read freely by the tests (as JSON.parse gives it). */
export function generationBodies(received: ReadonlyArray<{ path: string; body: Buffer }>): Array<Record<string, any>> {
  return received.filter((r) => /:(stream)?[gG]enerateContent$/.test(r.path)).map((r) => JSON.parse(r.body.toString()) as Record<string, any>);
}
