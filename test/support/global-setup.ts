/**
 * Starts the real services the suite needs, private to this run (STYLE.md, Tests):
 * a redis-server on a free port (or TEST_REDIS_URL / REDIS_URL), and a throwaway PostgreSQL
 * database (from TEST_DATABASE_URL, else the local server, else a private initdb cluster).
 * Tests read the addresses with `inject('redisUrl')` and `inject('pgUrl')`.
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer, type RunningRedis } from './redis-server.js';
import { createThrowawayPostgres, type ThrowawayPostgres } from './postgres.js';
import { serviceUnavailable } from './required-services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** Empty when no PostgreSQL could be had: PostgreSQL suites skip, loudly (under CI=true, setup fails instead). */
    pgUrl: string;
  }
}

let redis: RunningRedis | undefined;
let pg: ThrowawayPostgres | undefined;

export async function setup(project: TestProject): Promise<void> {
  const externalRedis = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL;
  if (externalRedis) {
    project.provide('redisUrl', externalRedis);
  } else {
    try {
      redis = await startRedisServer();
    } catch (e) {
      // Every Redis suite needs it, locally too: no skipping, a clear reason instead.
      throw new Error(`The test suite needs redis-server on PATH (or TEST_REDIS_URL): it could not be started (${String(e)}).`, { cause: e });
    }
    project.provide('redisUrl', redis.url);
  }
  try {
    pg = await createThrowawayPostgres(process.env.TEST_DATABASE_URL);
  } catch (e) {
    // A server that was named or found but refused the throwaway database is a broken setup, not a missing service.
    throw new Error(`PostgreSQL for the test suite: a throwaway database could not be created (${String(e)}).`, { cause: e });
  }
  if (!pg) {
    serviceUnavailable(
      'PostgreSQL',
      'none reachable at TEST_DATABASE_URL or 127.0.0.1:5432, and no private initdb cluster could be started',
      'every PostgreSQL suite',
    );
  }
  project.provide('pgUrl', pg?.url ?? '');
}

export async function teardown(): Promise<void> {
  await pg?.drop();
  await redis?.stop();
}
