import { createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Tenant keys are stored only as `sha256:<hex>` (contract §2). One-shot hash: half the cost of a Hash object, on every request. */
export function hashKey(key: string): string {
  return `sha256:${hash('sha256', key, 'hex')}`;
}

/** Constant-time equality of two stored hashes of equal format. */
export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The public id of a key from the config file: derived from its hash so it is stable across
 * restarts and instances, and reveals nothing usable about the key.
 */
export function keyIdForHash(hash: string): string {
  return `key_${createHash('sha256').update(`nanogate-key-id:${hash}`).digest('hex').slice(0, 16)}`;
}

/** A fresh key id for an admin-made key. */
export function newKeyId(): string {
  return `key_${randomBytes(8).toString('hex')}`;
}

/** A fresh tenant key: shown once at creation, stored only hashed. */
export function newTenantKey(): string {
  return `ng_${randomBytes(24).toString('base64url')}`;
}

/** The well-known development key of the shipped config: warned about at start. */
export const DEV_KEY_HASH = hashKey('nanogate-dev-key');
