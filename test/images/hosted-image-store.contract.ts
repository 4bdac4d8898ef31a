import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostedImageStore } from '../../src/images/hosted-image-store.js';

const newId = () => randomBytes(24).toString('base64url');

/** One suite for every HostedImageStore (STYLE: a contract per interface, run on each implementation). */
export function hostedImageStoreContract(name: string, make: () => Promise<{ open(): HostedImageStore; teardown(): Promise<void> }>): void {
  describe(`HostedImageStore contract: ${name}`, () => {
    let env: Awaited<ReturnType<typeof make>>;
    let store: HostedImageStore;
    beforeAll(async () => {
      env = await make();
      store = env.open();
    });
    afterAll(async () => {
      await store?.close();
      await env?.teardown();
    });

    it('gives back an image byte for byte, with its type and expiry', async () => {
      const id = newId();
      const bytes = randomBytes(70_000);
      await store.put(id, { bytes, contentType: 'image/webp', expiresAtMs: 1_000_000 });
      expect(await store.get(id)).toEqual({ bytes, contentType: 'image/webp', expiresAtMs: 1_000_000 });
    });

    it('knows no image it was not given, and refuses ids that are not its own form', async () => {
      expect(await store.get(newId())).toBeUndefined();
      expect(await store.get('../../etc/passwd')).toBeUndefined();
      await expect(store.put('../x', { bytes: Buffer.from('x'), contentType: 'image/png', expiresAtMs: 1 })).rejects.toThrow();
    });

    it('deletes an image', async () => {
      const id = newId();
      await store.put(id, { bytes: Buffer.from('x'), contentType: 'image/png', expiresAtMs: 5 });
      await store.delete(id);
      expect(await store.get(id)).toBeUndefined();
      await store.delete(id);
    });

    it('sweeps the images expired at the time it is given, and only those', async () => {
      await store.sweep(Number.MAX_SAFE_INTEGER);
      const old = newId();
      const edge = newId();
      const young = newId();
      await store.put(old, { bytes: Buffer.from('o'), contentType: 'image/png', expiresAtMs: 2_000 });
      await store.put(edge, { bytes: Buffer.from('e'), contentType: 'image/png', expiresAtMs: 3_000 });
      await store.put(young, { bytes: Buffer.from('y'), contentType: 'image/png', expiresAtMs: 3_001 });
      expect(await store.sweep(3_000)).toBe(2);
      expect(await store.get(old)).toBeUndefined();
      expect(await store.get(edge)).toBeUndefined();
      expect((await store.get(young))?.bytes.toString()).toBe('y');
      expect(await store.sweep(3_000)).toBe(0);
    });

    it('keeps one signing key of 32 bytes or more, the same for every instance on the store', async () => {
      const key = await store.signingKey();
      expect(key.length).toBeGreaterThanOrEqual(32);
      const other = env.open();
      try {
        expect(await other.signingKey()).toEqual(key);
        // And an image one instance put, the other serves.
        const id = newId();
        await store.put(id, { bytes: Buffer.from('shared'), contentType: 'image/png', expiresAtMs: 9e12 });
        expect((await other.get(id))?.bytes.toString()).toBe('shared');
      } finally {
        await other.close();
      }
    });
  });
}
