import { DatabaseSync } from 'node:sqlite';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/tenants/keys.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { GOOGLE_KEY, startGateway } from '../support/gateway-harness.js';

const KEY = 'shutdown-tenant-key';

const config = `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 60000, retries: 0 }
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
tenants:
  - id: t
    project: default
    keys: ["${hashKey(KEY)}"]
database: { path: $DB_PATH }
`;

let mock: MockGoogle;
beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => mock.reset());

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('shutdown with calls outlasting the grace period', () => {
  it('cuts the calls still running at the end of the grace period and records each one exactly once, as aborted', async () => {
    const gw = await startGateway({ upstreamUrl: mock.url, configYaml: config });
    // Google never answers generation requests: every call is still running when the grace ends.
    mock.setModelFault('gemini-3-pro-image', { kind: 'hang' });
    const native = (path: string) =>
      request(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY }, body: JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] }) });
    const calls = [
      native('/v1beta/models/nano-banana-pro:generateContent'),
      native('/v1beta/models/nano-banana-pro:streamGenerateContent?alt=sse'),
      request(`${gw.url}/v1/images/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'nano-banana-pro', prompt: 'x', n: 2 }),
      }),
    ].map((p) => p.then((r) => r.body.text()).catch((e: unknown) => e));
    await until(() => mock.openRequests() === 4, 'four calls to reach Google');

    await gw.gateway.close(50);
    await Promise.all(calls);

    const db = new DatabaseSync(gw.dbPath, { readOnly: true });
    try {
      const rows = db.prepare('SELECT request_id, route, flags FROM usage_records ORDER BY route').all() as Array<{ request_id: string; route: string; flags: string }>;
      expect(rows.map((r) => r.route)).toEqual(['native.generateContent', 'native.streamGenerateContent', 'openai.generations', 'openai.generations']);
      for (const r of rows) expect(r.flags).toContain('aborted');
    } finally {
      db.close();
    }
    await gw.close();
  });
});
