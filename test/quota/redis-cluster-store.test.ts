import { afterAll, describe, it } from 'vitest';
import { registerQuotaStoreContract } from './quota-store.contract.js';
import { redisNamespace } from './redis-namespace.js';
import { startRedisCluster } from './redis-cluster.js';
import { serviceUnavailable } from '../support/required-services.js';

const cluster = await startRedisCluster();

if (typeof cluster === 'string') {
  serviceUnavailable('Redis Cluster', cluster, 'the Redis Cluster quota suite');
  describe.skip('QuotaStore contract: Redis Cluster', () => {
    it('needs redis-server and redis-cli with cluster support', () => {});
  });
} else {
  afterAll(() => cluster.stop());
  // REDIS_URL's Cluster form: a comma-separated host:port list.
  registerQuotaStoreContract('Redis Cluster', async () => redisNamespace(cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')));
}
