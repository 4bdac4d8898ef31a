import { randomBase64url } from '../random/pool.js';

/**
 * The id of one admission in the minute logs (and in Redis's "id|tokens|images" members): 96
 * random bits as 16 base64url characters, unique across instances for as long as an entry lives
 * (a minute). A flat string: a log of half a million entries kept ~2.8 million string fragments
 * alive with randomUUID() ids.
 */
export function newEntryId(): string {
  return randomBase64url(12);
}
