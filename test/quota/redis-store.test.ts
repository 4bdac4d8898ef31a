import { inject } from 'vitest';
import { registerQuotaStoreContract } from './quota-store.contract.js';
import { redisNamespace } from './redis-namespace.js';

const redisUrl = inject('redisUrl');

registerQuotaStoreContract('Redis', async () => redisNamespace(redisUrl));
