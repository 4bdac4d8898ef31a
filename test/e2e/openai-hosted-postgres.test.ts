/**
 * #14.4 with several instances: on PostgreSQL (DATABASE_URL, hosted images `auto`), a URL one
 * gateway answered with is served by another, and outlives the gateway that made it.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { GOOGLE_KEY, TENANT_KEY } from '../support/gateway-harness.js';
import { withPgClient } from '../support/postgres.js';
import { startWorld, type World } from '../support/openai-world.js';

const pgUrl = inject('pgUrl');
const schema = `hosted_e2e_${process.pid}`;

if (!pgUrl) {
  console.warn('\n!!! PostgreSQL unavailable (pgUrl is empty): hosted images across instances are SKIPPED !!!\n');
  describe.skip('hosted images across instances', () => it('needs a PostgreSQL server', () => {}));
} else {
  let mock: MockGoogle;
  let a: World;
  let b: World;
  beforeAll(async () => {
    await withPgClient(pgUrl, async (c) => {
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.query(`CREATE SCHEMA ${schema}`);
    });
    const u = new URL(pgUrl);
    u.searchParams.set('options', `-c search_path=${schema}`);
    mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
    a = await startWorld({ upstreamUrl: mock.url, databaseUrl: u.toString() });
    b = await startWorld({ upstreamUrl: mock.url, databaseUrl: u.toString() });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await mock?.close();
    await withPgClient(pgUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  });

  describe('hosted images across instances (PostgreSQL)', () => {
    it('serves from one gateway the URL another answered with, even once that one has stopped', async () => {
      const client = new OpenAI({ apiKey: TENANT_KEY, baseURL: `${a.url}/v1`, maxRetries: 0 });
      const url = (await client.images.generate({ model: 'dall-e-3', prompt: 'A pear', response_format: 'url' })).data![0]!.url!;
      expect(url.startsWith(`${a.url}/v1/images/hosted/`)).toBe(true);
      const onB = url.replace(a.url, b.url);
      await a.close();
      const res = await fetch(onB);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).toString('base64')).toBe(mock.imageBase64());
      // Nothing was written to either gateway's folder: the images are in the database.
      const rows = await withPgClient(pgUrl, (c) => c.query(`SELECT count(*)::int AS n FROM ${schema}.nanogate_hosted_images`));
      expect(rows.rows[0].n).toBe(1);
    });
  });
}
