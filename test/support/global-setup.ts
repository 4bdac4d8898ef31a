/**
 * Starts the real services the suite needs, private to this run (STYLE.md, Tests):
 * a redis-server on a free port (or TEST_REDIS_URL / REDIS_URL), and a throwaway PostgreSQL
 * database (from TEST_DATABASE_URL, else the local server, else a private initdb cluster).
 * Tests read the addresses with `inject('redisUrl')` and `inject('pgUrl')`.
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer, type RunningRedis } from './redis-server.js';
import { createThrowawayPostgres, type ThrowawayPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** Empty when no PostgreSQL could be had: PostgreSQL suites skip, loudly. */
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
    redis = await startRedisServer();
    project.provide('redisUrl', redis.url);
  }
  pg = await createThrowawayPostgres(process.env.TEST_DATABASE_URL);
  if (!pg) {
    console.warn('\n!!! No PostgreSQL could be reached or started: PostgreSQL suites are SKIPPED !!!\n');
  }
  project.provide('pgUrl', pg?.url ?? '');
}

export async function teardown(): Promise<void> {
  await pg?.drop();
  await redis?.stop();
}
