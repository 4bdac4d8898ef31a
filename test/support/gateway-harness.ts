import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway.js';
import { REDACT_PATHS } from '../../src/ops/log-redaction.js';
import { hashKey as hashOf } from '../../src/tenants/keys.js';
import type { Clock } from '../../src/time/clock.js';

export const TENANT_KEY = 'tenant-key-design';
export const OTHER_TENANT_KEY = 'tenant-key-marketing';
export const GOOGLE_KEY = 'test-google-key';
export const ADMIN_TOKEN = 'admin-secret-token';

export interface HarnessOptions {
  upstreamUrl: string;
  /** YAML appended to / replacing the default config sections. */
  configYaml?: string;
  redisUrl?: string;
  databaseUrl?: string;
  clock?: Clock;
  adminToken?: string | null;
  /**
   * The model table's live check against Google's list: off unless asked for, so that tests
   * counting what reaches the mock see only their own requests (#11).
   */
  modelLiveCheck?: GatewayOptions['modelLiveCheck'];
}

export interface RunningGateway {
  url: string;
  /** The SQLite file of this gateway (when DATABASE_URL is unset). */
  dbPath: string;
  gateway: Gateway;
  /** Every log line the gateway wrote, raw. */
  logs: string[];
  close(): Promise<void>;
}

export function defaultConfigYaml(upstreamUrl: string, dbPath: string): string {
  return `
upstream:
  baseUrl: ${upstreamUrl}
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
    keys: ["${hashOf(TENANT_KEY)}"]
  - id: marketing
    project: default
    keys: ["${hashOf(OTHER_TENANT_KEY)}"]
aliases:
  poster-model: gemini-3-pro-image
database:
  path: ${dbPath}
openai:
  hostedImages:
    directory: ${dbPath}.images
`;
}


/** Starts a whole gateway (real deps, in-process) on a free port against `upstreamUrl`. */
export async function startGateway(opts: HarnessOptions): Promise<RunningGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-test-'));
  const dbPath = join(dir, 'nanogate.db');
  const yaml = opts.configYaml ?? defaultConfigYaml(opts.upstreamUrl, dbPath);
  const config = parseConfig(yaml.replaceAll('$DB_PATH', dbPath).replaceAll('$UPSTREAM', opts.upstreamUrl), {}, 'test-config');
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const logger = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
  const adminToken = opts.adminToken === null ? undefined : (opts.adminToken ?? ADMIN_TOKEN);
  const gateway = await createGateway({
    config,
    logger,
    ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}),
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    ...(adminToken ? { adminToken } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    tenantRefreshMs: 0,
    // Retries go at once: tests count attempts, they do not wait through backoff.
    upstreamSleep: async (_ms, signal) => {
      signal?.throwIfAborted();
    },
    ledgerFlushIntervalMs: 20,
    modelLiveCheck: opts.modelLiveCheck ?? false,
  });
  const address = await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: address,
    dbPath,
    gateway,
    logs,
    async close() {
      await gateway.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
