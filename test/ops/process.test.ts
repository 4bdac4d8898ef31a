import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { DatabaseSync } from 'node:sqlite';
import { hashKey } from '../../src/tenants/keys.js';
import { startMockGoogle } from '../mock-google/server.js';
import { freePort } from '../support/free-port.js';
import { tempDir } from '../support/temp-dir.js';

/** The real process, as `npm start` runs it (production build in dist/, built by `pretest`). */
function startProcess(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'dist/main.js'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe('the gateway process', () => {
  it('exits non-zero with one readable line on a bad config', async () => {
    const dir = tempDir('nanogate-proc-');
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'projects:\n  - id: default\n    apiKey: k\n    limits:\n      gemini-3-pro-image-preview: { rpm: -1 }\n');
    const p = startProcess({ GATEWAY_CONFIG: file });
    expect(await p.exited).toBe(1);
    expect(p.err().trim().split('\n')).toHaveLength(1);
    expect(p.err()).toContain('projects[0].limits.gemini-3-pro-image-preview.rpm: must be a positive integer');
    expect(p.err()).not.toMatch(/\n\s+at /);
  });

  it('logs listening when ready, serves, and exits 0 on SIGTERM', async () => {
    const dir = tempDir('nanogate-proc-');
    const file = join(dir, 'gw.yaml');
    writeFileSync(file, `projects:\n  - id: default\n    apiKey: k\ndatabase:\n  path: ${join(dir, 'db', 'n.db')}\n`);
    const port = await freePort();
    const p = startProcess({ GATEWAY_CONFIG: file, PORT: String(port), HOST: '127.0.0.1' });
    for (let i = 0; i < 200 && !p.out().includes('"msg":"listening"'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(p.out()).toContain('"msg":"listening"');
    const health = await request(`http://127.0.0.1:${port}/healthz`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
    const ready = await request(`http://127.0.0.1:${port}/readyz`);
    expect(ready.statusCode).toBe(200);
    await ready.body.dump();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.err()).toBe('');
  });

  it('starts on the shipped config with no Google key, warns, and refuses calls without reaching Google', async () => {
    const port = await freePort();
    const p = startProcess({ PORT: String(port), HOST: '127.0.0.1', GEMINI_BASE_URL: 'http://127.0.0.1:9', GATEWAY_CONFIG: 'config/gateway.yaml' });
    for (let i = 0; i < 200 && !p.out().includes('"msg":"listening"'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(p.out()).toContain('project has no Google API key');
    const res = await request(`http://127.0.0.1:${port}/v1beta/models/nano-banana:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': 'nanogate-dev-key', 'content-type': 'application/json' },
      body: '{"contents":[{"parts":[{"text":"hi"}]}]}',
    });
    expect(res.statusCode).toBe(502);
    expect(((await res.body.json()) as { error: { message: string } }).error.message).toContain('GEMINI_API_KEY');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('flushes usage records to the database on SIGTERM, before the next batch would have gone', async () => {
    const mock = await startMockGoogle({ apiKeys: ['proc-google-key'] });
    const dir = tempDir('nanogate-proc-');
    const file = join(dir, 'gw.yaml');
    const dbPath = join(dir, 'n.db');
    writeFileSync(
      file,
      `upstream: { baseUrl: "${mock.url}" }\nprojects:\n  - id: default\n    apiKey: proc-google-key\ntenants:\n  - id: t\n    project: default\n    keys: ["${hashKey('proc-tenant-key')}"]\ndatabase:\n  path: ${dbPath}\n`,
    );
    const port = await freePort();
    const p = startProcess({ GATEWAY_CONFIG: file, PORT: String(port), HOST: '127.0.0.1' });
    try {
      for (let i = 0; i < 200 && !p.out().includes('"msg":"listening"'); i++) await new Promise((r) => setTimeout(r, 25));
      const res = await request(`http://127.0.0.1:${port}/v1beta/models/nano-banana:generateContent`, {
        method: 'POST',
        headers: { 'x-goog-api-key': 'proc-tenant-key', 'content-type': 'application/json' },
        body: '{"contents":[{"parts":[{"text":"hi"}]}]}',
      });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      const db = new DatabaseSync(dbPath, { readOnly: true });
      const row = db.prepare('SELECT count(*) AS n, sum(cost_nano_usd) AS cost FROM usage_records').get() as { n: number; cost: number };
      db.close();
      expect(row.n).toBe(1);
      expect(row.cost).toBeGreaterThan(0);
    } finally {
      p.child.kill('SIGKILL');
      await mock.close();
    }
  });
});
