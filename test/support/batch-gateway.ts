/**
 * Gateways for the batch suites (#16): in-process like gateway-harness.ts, with the batch
 * follower left to the test (it calls `follower.tick()` instead of waiting for a timer), and
 * optionally a database shared with another instance.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { REDACT_PATHS } from '../../src/ops/log-redaction.js';
import { hashKey } from '../../src/tenants/keys.js';
import type { Clock } from '../../src/time/clock.js';
import { GOOGLE_KEY, OTHER_TENANT_KEY, TENANT_KEY } from './gateway-harness.js';

export { GOOGLE_KEY, OTHER_TENANT_KEY, TENANT_KEY };
/** A third tenant, with a small daily budget. */
export const BUDGET_TENANT_KEY = 'tenant-key-frugal';

export interface BatchGateway {
  url: string;
  gateway: Gateway;
  dir: string;
  dbPath: string;
  logs: string[];
  close(): Promise<void>;
}

export interface BatchGatewayOptions {
  upstreamUrl: string;
  /** Extra YAML appended to the config (e.g. `batches:` or a project's limits). */
  projectLimitsYaml?: string;
  /** Share this folder's SQLite file with another instance. */
  dir?: string;
  databaseUrl?: string;
  redisUrl?: string;
  clock?: Clock;
  tier?: string;
}

export function batchConfigYaml(upstreamUrl: string, dbPath: string, opts: { projectLimitsYaml?: string; tier?: string } = {}): string {
  return `
upstream:
  baseUrl: ${upstreamUrl}
  timeoutMs: 5000
  retries: 0
defaultModel: nano-banana-pro
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: ${opts.tier ?? 'tier1'}
${opts.projectLimitsYaml ?? ''}
tenants:
  - id: design
    project: default
    keys: ["${hashKey(TENANT_KEY)}"]
  - id: marketing
    project: default
    keys: ["${hashKey(OTHER_TENANT_KEY)}"]
  - id: frugal
    project: default
    keys: ["${hashKey(BUDGET_TENANT_KEY)}"]
    budget: { dailyUsd: 0.5 }
database:
  path: ${dbPath}
`;
}

export async function startBatchGateway(opts: BatchGatewayOptions): Promise<BatchGateway> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'nanogate-batch-'));
  const dbPath = join(dir, 'nanogate.db');
  const config = parseConfig(batchConfigYaml(opts.upstreamUrl, dbPath, opts), {}, 'batch-test-config');
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const gateway = await createGateway({
    config,
    logger: pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink),
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    tenantRefreshMs: 0,
    ledgerFlushIntervalMs: 20,
    modelLiveCheck: false,
    batchFollower: false,
  });
  const url = await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    gateway,
    dir,
    dbPath,
    logs,
    async close() {
      await gateway.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
