import { randomBytes } from 'node:crypto';

/** 96 random bits: unique across instances for as long as an entry lives (a minute). */
const ID_BYTES = 12;
/** Ids drawn from one call to the CSPRNG. */
const IDS_PER_DRAW = 256;

let pool = Buffer.alloc(0);
let offset = 0;

/**
 * The id of one admission in the minute logs (and in Redis's "id|tokens|images" members): 16
 * base64url characters, a flat string. randomUUID() builds its text by concatenation, and a
 * log of half a million entries kept ~2.8 million string fragments alive (~250 bytes per id
 * instead of ~32).
 */
export function newEntryId(): string {
  if (offset + ID_BYTES > pool.length) {
    pool = randomBytes(ID_BYTES * IDS_PER_DRAW);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}
