import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectoryImageStore } from '../../src/images/directory-store.js';
import { HostedImages } from '../../src/images/hosted-images.js';
import { ManualClock } from '../../src/time/clock.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function hosted(opts: { key?: string; baseUrl?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-hosted-'));
  dirs.push(dir);
  const clock = new ManualClock('2026-11-28T00:00:00Z');
  const images = new HostedImages({
    store: new DirectoryImageStore(dir),
    clock,
    ttlMs: 60 * 60_000,
    logger: pino({ level: 'silent' }),
    ...(opts.key ? { signingKey: Buffer.from(opts.key) } : {}),
    ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
  });
  return { images, clock, dir };
}

const parts = (url: string) => {
  const u = new URL(url);
  return { file: u.pathname.split('/').pop()!, query: Object.fromEntries(u.searchParams) };
};

describe('HostedImages', () => {
  it('signs a URL on the request’s origin that opens the image until it expires, 60 minutes later', async () => {
    const { images, clock } = hosted();
    const { url, expiresAtMs } = await images.save(Buffer.from('png!'), 'image/png', 'http://gw.example:8080');
    expect(url.startsWith('http://gw.example:8080/v1/images/hosted/')).toBe(true);
    expect(expiresAtMs).toBe(clock.nowMs() + 3_600_000);
    const { file, query } = parts(url);
    expect((await images.open(file, query))?.bytes.toString()).toBe('png!');
    clock.advance(3_600_000 - 1);
    expect(await images.open(file, query)).toBeDefined();
    clock.advance(1);
    expect(await images.open(file, query)).toBeUndefined();
  });

  it('opens nothing for a changed file, expiry or signature, or a missing one', async () => {
    const { images } = hosted();
    const { url } = await images.save(Buffer.from('x'), 'image/jpeg', 'https://gw');
    const { file, query } = parts(url);
    expect(file.endsWith('.jpg')).toBe(true);
    expect(await images.open(file.replace('.jpg', '.png'), query)).toBeUndefined();
    expect(await images.open(file, { ...query, se: String(Number(query['se']) + 60) })).toBeUndefined();
    expect(await images.open(file, { ...query, sig: query['sig']!.slice(1) + 'A' })).toBeUndefined();
    expect(await images.open(file, { se: query['se'] })).toBeUndefined();
    expect(await images.open('../../secret.png', query)).toBeUndefined();
  });

  it('uses the configured key and base URL: another gateway with the same key verifies its URLs', async () => {
    const a = hosted({ key: 'k'.repeat(32), baseUrl: 'https://images.example.com/' });
    const { url } = await a.images.save(Buffer.from('y'), 'image/webp', 'http://internal:8080');
    expect(url.startsWith('https://images.example.com/v1/images/hosted/')).toBe(true);
    const { file, query } = parts(url);
    const sameKey = new HostedImages({ store: new DirectoryImageStore(a.dir), clock: a.clock, ttlMs: 1, logger: pino({ level: 'silent' }), signingKey: Buffer.from('k'.repeat(32)) });
    expect((await sameKey.open(file, query))?.bytes.toString()).toBe('y');
    const otherKey = new HostedImages({ store: new DirectoryImageStore(a.dir), clock: a.clock, ttlMs: 1, logger: pino({ level: 'silent' }), signingKey: Buffer.from('j'.repeat(32)) });
    expect(await otherKey.open(file, query)).toBeUndefined();
  });

  it('sweeps expired images by its clock', async () => {
    const { images, clock } = hosted();
    await images.save(Buffer.from('1'), 'image/png', 'http://gw');
    clock.advance(30 * 60_000);
    await images.save(Buffer.from('2'), 'image/png', 'http://gw');
    clock.advance(31 * 60_000);
    expect(await images.sweep()).toBe(1);
    clock.advance(60 * 60_000);
    expect(await images.sweep()).toBe(1);
  });
});
