import { readFileSync, writeSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import type { AddressInfo } from 'node:net';
import { pino, type DestinationStream, type Logger } from 'pino';
import { ConfigError, loadConfigFile } from './config/load.js';
import { createGateway, StartupError } from './gateway.js';
import { REDACT_PATHS } from './ops/log-redaction.js';
import { startLine } from './ops/start-line.js';
import { DEV_KEY_HASH } from './tenants/keys.js';

const LOG_FLUSH_INTERVAL_MS = 250;
/** An admin token shorter than this is refused at start (#12): 24 random bytes in hex is 48. */
const MIN_ADMIN_TOKEN_CHARS = 32;
/** The first Node 22 with node:sqlite without a flag. */
const SQLITE_NODE = '22.13';

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Human-readable lines for a person at a terminal (#12); JSON otherwise, and always under
 * NODE_ENV=production. pino-pretty is loaded only then: a JSON deployment never pays for it.
 */
async function prettyStream(env: NodeJS.ProcessEnv): Promise<DestinationStream | undefined> {
  if (!process.stdout.isTTY || env.NODE_ENV === 'production') return undefined;
  const { default: pretty } = await import('pino-pretty');
  return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true, destination: 1, sync: true });
}

/** env -> config -> real deps -> listen; SIGTERM drains. The only reader of process.env with cli.ts. */
async function main(): Promise<void> {
  const env = process.env;
  // Asynchronous, buffered stdout: lines go out 8 KiB at a time (one write per ~30 requests
  // instead of one each, a measured ~8% of a tiny request's CPU), at the latest every 250 ms,
  // and before every exit.
  const destination = pino.destination({ dest: 1, sync: false, minLength: 8192 });
  const flushTimer = setInterval(() => destination.flush(), LOG_FLUSH_INTERVAL_MS);
  flushTimer.unref();
  const pretty = await prettyStream(env);
  const logger: Logger = pino({ level: env.LOG_LEVEL ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pretty ?? destination);
  const exit = (code: number) => {
    try {
      // Probe first: sonic-boom's flushSync (4.2) retries a broken pipe for ever, so with
      // stdout's reader gone (npm or a process manager killed) the process never exited.
      writeSync(1, '');
      destination.flushSync();
    } catch (e) {
      // stdout gone: pino's own EPIPE handling turns every later flush (its exit hook's too)
      // into a no-op. Nothing more to say.
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') destination.emit('error', e);
    }
    process.exit(code);
  };
  /** A start that cannot go on: one line naming the part on stderr (and in the log), exit 1. */
  const fatal = (message: string): never => {
    logger.fatal(message);
    process.stderr.write(`nanogate: ${message}\n`);
    return exit(1) as never;
  };
  const configPath = env.GATEWAY_CONFIG ?? 'config/gateway.yaml';
  let config;
  try {
    config = loadConfigFile(configPath, env);
  } catch (e) {
    if (e instanceof ConfigError) return fatal(`config: ${e.message}`);
    throw e;
  }
  const adminToken = env.ADMIN_TOKEN || undefined;
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_CHARS) {
    return fatal(`config: ADMIN_TOKEN has ${adminToken.length} characters; it must have at least ${MIN_ADMIN_TOKEN_CHARS} (make one with: openssl rand -hex 24)`);
  }
  if (!env.DATABASE_URL && !isBuiltin('node:sqlite')) {
    return fatal(
      `database: this Node.js (${process.version}) has no node:sqlite, which the embedded SQLite database needs: run nanogate on Node.js ${SQLITE_NODE} or later (npm start uses the Node pinned in node_modules), or set DATABASE_URL`,
    );
  }
  // The shipped config's well-known key must not be reachable from the network by default (#12).
  const devKey = config.tenants.some((t) => t.keys.includes(DEV_KEY_HASH));
  const host = env.HOST || (devKey ? '127.0.0.1' : '0.0.0.0');
  if (devKey && !env.HOST) {
    logger.warn('the well-known development key is configured: listening on 127.0.0.1 only (set HOST=0.0.0.0 to listen on every interface, after replacing the key)');
  }

  let gateway;
  try {
    gateway = await createGateway({
      config,
      logger,
      ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
      ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
      ...(adminToken ? { adminToken } : {}),
    });
  } catch (e) {
    if (e instanceof StartupError || e instanceof ConfigError) return fatal(e.message);
    throw e;
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.server.shutdownGraceMs }, 'shutting down: finishing in-flight requests');
    // A safety net only: close() cuts connections at the grace period, meters the aborted
    // calls (up to 10 s) and flushes the ledger (up to 10 s while the database is down).
    const force = setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting with work unfinished');
      exit(1);
    }, config.server.shutdownGraceMs + 30_000);
    force.unref();
    gateway
      .close()
      .then(() => {
        logger.info('stopped');
        exit(0);
      })
      .catch((e: unknown) => {
        logger.error({ err: e }, 'shutdown failed');
        exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  const port = Number(env.PORT ?? 8080);
  let address: string;
  let opsAddress: string | undefined;
  try {
    address = await gateway.app.listen({ port, host });
  } catch (e) {
    return fatal(`server: ${(e as Error).message} (HOST ${host}, PORT ${env.PORT ?? 8080})`);
  }
  if (gateway.ops) {
    try {
      opsAddress = await gateway.ops.listen({ port: config.server.opsPort!, host });
    } catch (e) {
      return fatal(`server: ops port: ${(e as Error).message} (HOST ${host}, server.opsPort ${config.server.opsPort})`);
    }
  }
  // The line scripts wait for (contract §1), then the one a person reads.
  logger.info({ address, ...(opsAddress ? { opsAddress } : {}) }, 'listening');
  // Where it is bound (0.0.0.0 says "every interface"), where Fastify's address names one of them.
  const bound = (server: { address(): unknown }, fallback: string) => {
    const a = server.address() as AddressInfo | null;
    return a && typeof a === 'object' ? `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : fallback;
  };
  logger.info(
    startLine({
      version: packageVersion(),
      configPath,
      address: bound(gateway.app.server, address),
      ...(gateway.ops && opsAddress ? { opsAddress: bound(gateway.ops.server, opsAddress) } : {}),
      ...gateway.summary,
    }),
  );
  destination.flush();
}

main().catch((e: unknown) => {
  // A bug, not a part that failed: its stack helps whoever reports it.
  if (e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  process.stderr.write(`nanogate: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
