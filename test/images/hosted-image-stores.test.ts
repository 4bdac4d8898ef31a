import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, inject, it } from 'vitest';
import { DirectoryImageStore } from '../../src/images/directory-store.js';
import { PostgresImageStore } from '../../src/images/postgres-store.js';
import { withPgClient } from '../support/postgres.js';
import { hostedImageStoreContract } from './hosted-image-store.contract.js';

hostedImageStoreContract('directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-hosted-'));
  return { open: () => new DirectoryImageStore(join(dir, 'images')), teardown: async () => rmSync(dir, { recursive: true, force: true }) };
});

const pgUrl = inject('pgUrl');
if (!pgUrl) {
  console.warn('\n!!! PostgreSQL unavailable (pgUrl is empty): the PostgreSQL HostedImageStore contract is SKIPPED !!!\n');
  describe.skip('HostedImageStore contract: PostgreSQL', () => it('needs a PostgreSQL server', () => {}));
} else {
  hostedImageStoreContract('PostgreSQL', async () => {
    const schema = `hosted_${process.pid}`;
    await withPgClient(pgUrl, async (c) => {
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.query(`CREATE SCHEMA ${schema}`);
    });
    const u = new URL(pgUrl);
    u.searchParams.set('options', `-c search_path=${schema}`);
    return {
      open: () => new PostgresImageStore(u.toString()),
      teardown: () => withPgClient(pgUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).then(() => {}),
    };
  });
}
