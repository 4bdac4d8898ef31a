import { afterAll, beforeAll, describe, it } from 'vitest';
import { registerQuotaStoreContract } from './quota-store.contract.js';
import { clusterClient, redisNamespace } from './redis-namespace.js';
import { startRedisCluster, type RunningCluster } from './redis-cluster.js';

const started = await startRedisCluster();

if (typeof started === 'string') {
  console.warn(`\n!!! Redis Cluster could not be started (${started}): the Redis Cluster quota suite is SKIPPED !!!\n`);
  describe.skip('QuotaStore contract: Redis Cluster', () => {
    it('needs redis-server with cluster support', () => {});
  });
} else {
  const cluster: RunningCluster = started;
  beforeAll(() => {});
  afterAll(() => cluster.stop());
  registerQuotaStoreContract('Redis Cluster', async () => redisNamespace(() => clusterClient(cluster.nodes)));
}
