import { MemoryQuotaStore } from '../../src/quota/memory-store.js';
import { registerQuotaStoreContract } from './quota-store.contract.js';

// In memory, "another instance" can only mean another client of the same process's counters.
registerQuotaStoreContract('memory', async () => {
  const store = new MemoryQuotaStore();
  return { open: async () => store, close: () => store.close() };
});
