/**
 * The gateway's names for batches and files (#16). Tenants only ever see these; each maps to
 * Google's name in the database, so no name a tenant sends can reach an object it did not
 * make. Ids are lowercase hex: @google/genai keeps only `[a-z0-9]+` of a file id taken from a
 * URI, and insists on `batches/<id>` (docs/google-batch-api.md §1).
 */
import { createHash } from 'node:crypto';
import { randomHex } from '../random/pool.js';

const ID = /^[0-9a-f]{20}$/;

export function newObjectId(): string {
  return randomHex(10);
}

export const batchNameOf = (id: string): string => `batches/${id}`;
export const fileNameOf = (id: string): string => `files/${id}`;

/** The id of `batches/<id>` or a bare `<id>` as the SDKs send it; undefined when it cannot be one of ours. */
export function batchIdFrom(raw: string): string | undefined {
  const id = raw.startsWith('batches/') ? raw.slice('batches/'.length) : raw;
  return ID.test(id) ? id : undefined;
}

/** The id of `files/<id>` or `<id>`; result files' ids start with `r`. */
export function fileIdFrom(raw: string): string | undefined {
  const id = raw.startsWith('files/') ? raw.slice('files/'.length) : raw;
  return ID.test(id) || (id.startsWith('r') && ID.test(id.slice(1))) ? id : undefined;
}

/**
 * A batch's result file gets a name fixed by the batch: two instances that notice the result
 * at once register one file, not two.
 */
export const resultFileIdOf = (batchId: string): string => `r${batchId}`;

/** Google's side of a batch is named after the gateway's, so a batch whose create answer was lost is found again. */
export const googleDisplayNameOf = (batchId: string): string => `nanogate:${batchId}`;

/**
 * The usage record id of response `index` of a batch: the same every time it is computed, so a
 * settlement repeated after a crash inserts nothing twice (the ledger's insert ignores ids it
 * has). UUIDv7-shaped like every record id, its time the batch's creation, so records still
 * sort by time in the primary-key index.
 */
export function batchRecordId(batchName: string, index: number, createdAtMs: number): string {
  const time = Math.max(0, Math.floor(createdAtMs)).toString(16).padStart(12, '0').slice(-12);
  const h = createHash('sha256').update(`${batchName}#${index}`).digest('hex');
  const variant = ((parseInt(h[3]!, 16) & 0x3) | 0x8).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${h.slice(0, 3)}-${variant}${h.slice(4, 7)}-${h.slice(7, 19)}`;
}
