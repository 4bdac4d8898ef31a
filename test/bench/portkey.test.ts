/**
 * Portkey's gateway (the devDependency --peers runs) against the mock, as the bench drives it:
 * found, started, relaying a Gemini image on chat completions, failing on images, stopped.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPortkey, startPortkey, type StartedPeer } from '../../bench/processes.js';
import { GOOGLE_KEY, RequestBook } from '../../bench/scenarios.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('findPortkey', () => {
  it('finds the installed package and the Node build its bin runs', () => {
    const install = findPortkey(ROOT);
    expect(install).toMatchObject({ ok: true, version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it('says why when the package is not installed', () => {
    const empty = mkdtempSync(join(tmpdir(), 'bench-no-portkey-'));
    try {
      writeFileSync(join(empty, 'package.json'), '{"name":"x"}');
      expect(findPortkey(empty)).toEqual({ ok: false, reason: expect.stringContaining('@portkey-ai/gateway is not installed') });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("Portkey's gateway against the mock", () => {
  let mock: MockGoogle;
  let portkey: StartedPeer;
  const book = new RequestBook();
  const crashDir = mkdtempSync(join(tmpdir(), 'bench-portkey-crash-'));

  beforeAll(async () => {
    const install = findPortkey(ROOT);
    if (!install.ok) throw new Error(install.reason);
    mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY], imageBytes: { '1K': 30_000 } });
    portkey = await startPortkey(install, crashDir);
  });

  afterAll(async () => {
    await portkey?.stop();
    await mock?.close();
    rmSync(crashDir, { recursive: true, force: true });
  });

  const send = async (spec: ReturnType<RequestBook['request']>) => {
    const res = await request(`${portkey.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body });
    return { status: res.statusCode, text: await res.body.text() };
  };

  it('relays a chat completion to the mock and hands back the whole image', async () => {
    const answer = await send(book.request('chat', '1K', 'portkey', mock.url));
    expect(answer.status).toBe(200);
    const body = JSON.parse(answer.text) as { choices: Array<{ message: { content_blocks?: Array<{ type: string; image_url?: { url: string } }> } }> };
    const image = body.choices[0]!.message.content_blocks!.find((b) => b.type === 'image_url')!;
    expect(image.image_url!.url).toBe(`data:image/png;base64,${mock.imageBase64('1K')}`);
    const sent = mock.received.at(-1)!;
    expect(sent.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
    expect(sent.query['key']).toBe(GOOGLE_KEY);
    expect(JSON.parse(sent.body.toString('utf8'))).toMatchObject({ generationConfig: { responseModalities: ['IMAGE'], imageConfig: { imageSize: '1K' } } });
  });

  it('fails the images route for Google without calling it', async () => {
    const before = mock.received.length;
    const answer = await send(book.request('openai', 'tiny', 'portkey', mock.url));
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(mock.received.length).toBe(before);
  });

  it('stops when asked, and is not counted as a death', async () => {
    const pid = portkey.pid;
    await portkey.stop();
    expect(portkey.died()).toBeUndefined();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('startPortkey when the peer will not start', () => {
  it('rejects with what it printed, and leaves no process behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-bad-portkey-'));
    try {
      const script = join(dir, 'start-server.js');
      writeFileSync(script, "console.error('boom: cannot start'); process.exit(3);\n");
      await expect(startPortkey({ ok: true, version: '0.0.0', script }, dir)).rejects.toThrow(/portkey exited \(exit code 3\) before listening:\n.*boom: cannot start/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
