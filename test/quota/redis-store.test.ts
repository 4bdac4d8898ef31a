import { inject } from 'vitest';
import { registerQuotaStoreContract } from './quota-store.contract.js';
import { redisClient, redisNamespace } from './redis-namespace.js';

const redisUrl = inject('redisUrl');

registerQuotaStoreContract('Redis', async () => redisNamespace(() => redisClient(redisUrl)));
