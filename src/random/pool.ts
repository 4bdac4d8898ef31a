import { randomBytes } from 'node:crypto';

/** Bytes drawn from the CSPRNG at a time: one call serves hundreds of ids. */
const POOL_BYTES = 4096;

let pool = Buffer.alloc(0);
let offset = 0;

function take(bytes: number): number {
  if (offset + bytes > pool.length) {
    pool = randomBytes(Math.max(POOL_BYTES, bytes));
    offset = 0;
  }
  const at = offset;
  offset += bytes;
  return at;
}

/**
 * Random ids for the request path, as flat strings cut from a pooled CSPRNG draw. randomUUID()
 * is fast but builds its text by concatenation: an id kept for a minute (a quota log entry)
 * holds ~250 bytes of string fragments, and each per-request id needs a dash-stripping copy.
 */
export function randomHex(bytes: number): string {
  const at = take(bytes);
  return pool.toString('hex', at, at + bytes);
}

export function randomBase64url(bytes: number): string {
  const at = take(bytes);
  return pool.toString('base64url', at, at + bytes);
}
