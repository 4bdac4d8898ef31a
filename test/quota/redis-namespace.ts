/** Test namespaces on a real Redis or Redis Cluster: a unique key prefix each, one connection per open(). */
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { RedisQuotaStore } from '../../src/quota/redis-store.js';
import { failFastRedisOptions } from '../../src/quota/store.js';
import type { StoreNamespace } from './quota-store.contract.js';

export function redisClient(url: string): Redis {
  const client = new Redis(url, failFastRedisOptions(2_000));
  client.on('error', () => {});
  return client;
}

export function clusterClient(nodes: ReadonlyArray<{ host: string; port: number }>): Cluster {
  const { enableOfflineQueue: _ignored, retryStrategy, ...redisOptions } = failFastRedisOptions(2_000);
  // The offline queue lets the first commands wait for the slot map instead of failing.
  const client = new Cluster([...nodes], { clusterRetryStrategy: retryStrategy, redisOptions });
  client.on('error', () => {});
  return client;
}

export function redisNamespace(connect: () => Redis | Cluster): StoreNamespace {
  const keyPrefix = `test:${randomUUID()}:`;
  const stores: RedisQuotaStore[] = [];
  return {
    async open() {
      const store = new RedisQuotaStore({ client: connect(), keyPrefix });
      stores.push(store);
      return store;
    },
    async close() {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}
