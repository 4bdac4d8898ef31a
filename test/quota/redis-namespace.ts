/** Test namespaces on a real Redis or Redis Cluster: a unique key prefix each, one connection per open(). */
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { RedisQuotaStore } from '../../src/quota/redis-store.js';
import { connectRedis } from '../../src/quota/redis-connection.js';
import type { StoreNamespace } from './quota-store.contract.js';

/** The production client (fail-fast options), with a timeout roomy enough for a loaded CI box. */
export function testRedisClient(redisUrl: string): Redis | Cluster {
  return connectRedis(redisUrl, 5_000);
}

export function redisNamespace(redisUrl: string): StoreNamespace {
  const keyPrefix = `test:${randomUUID()}:`;
  const stores: RedisQuotaStore[] = [];
  return {
    async open() {
      const store = new RedisQuotaStore({ client: testRedisClient(redisUrl), keyPrefix });
      stores.push(store);
      return store;
    },
    async close() {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}
