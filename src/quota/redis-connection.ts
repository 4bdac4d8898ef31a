import { Cluster, Redis } from 'ioredis';
import { parseRedisUrl } from './store.js';

/**
 * A client for REDIS_URL (redis://, rediss://, or host:port,host:port for Cluster) that fails
 * fast when Redis is gone: no offline queue, no per-command retries, a short command timeout,
 * so a dead Redis fails over at once instead of hanging requests. Reconnects by itself.
 */
export function connectRedis(redisUrl: string, commandTimeoutMs = 500): Redis | Cluster {
  const failFast = { maxRetriesPerRequest: 0, commandTimeout: commandTimeoutMs, connectTimeout: 2_000 };
  const retryStrategy = (times: number) => Math.min(100 * times, 2_000);
  const target = parseRedisUrl(redisUrl);
  const client =
    target.kind === 'redis'
      ? new Redis(target.url, { ...failFast, enableOfflineQueue: false, retryStrategy })
      : new Cluster(target.nodes, { enableOfflineQueue: false, clusterRetryStrategy: retryStrategy, redisOptions: failFast });
  // Connection errors surface through failing commands (and the failover's one warning);
  // without a listener ioredis would report every reconnect attempt as an unhandled error.
  client.on('error', () => {});
  return client;
}
