/**
 * Image payloads the mock answers with. Every one is a valid PNG: a 1x1 RGBA image, padded to
 * the requested size with a private ancillary chunk (`ngPd`, which decoders skip), so a test or
 * the benchmark can ask for answers as big as real 4K images (about 20 MB of base64) and
 * clients that sniff or decode the bytes still see a PNG.
 */
import { crc32, deflateSync } from 'node:zlib';

export interface ImageAsset {
  readonly base64: string;
  /** `base64` as ASCII bytes, built once so a 20 MB answer is written without re-encoding. */
  readonly wire: Buffer;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, crc]);
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(): Buffer {
  const data = Buffer.alloc(13);
  data.writeUInt32BE(1, 0); // width
  data.writeUInt32BE(1, 4); // height
  data[8] = 8; // bit depth
  data[9] = 6; // RGBA
  return pngChunk('IHDR', data);
}

/** Filter byte 0, then one yellow pixel. */
const IDAT = pngChunk('IDAT', deflateSync(Buffer.from([0, 0xff, 0xe1, 0x35, 0xff])));
const IEND = pngChunk('IEND', Buffer.alloc(0));
const TINY_PNG = Buffer.concat([SIGNATURE, ihdr(), IDAT, IEND]);

function asset(png: Buffer): ImageAsset {
  const base64 = png.toString('base64');
  return { base64, wire: Buffer.from(base64, 'latin1') };
}

/** Deterministic filler (xorshift32): incompressible like real PNG data, same bytes every run. */
function fill(target: Buffer, seed: number): void {
  let x = seed | 0 || 1;
  const words = Math.floor(target.length / 4);
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    target.writeInt32LE(x, i * 4);
  }
  for (let i = words * 4; i < target.length; i++) target[i] = i & 0xff;
}

export function tinyPng(): ImageAsset {
  return asset(TINY_PNG);
}

/**
 * The interim ("thought") image number `index` of an answer: a 1x1 PNG of its own grey, so a
 * test can tell each interim image from the others and from the final one.
 */
export function interimPng(index: number): ImageAsset {
  const grey = (0x40 + index * 0x30) & 0xff;
  const idat = pngChunk('IDAT', deflateSync(Buffer.from([0, grey, grey, grey, 0xff])));
  return asset(Buffer.concat([SIGNATURE, ihdr(), idat, IEND]));
}

/**
 * A PNG whose base64 is `base64Length` characters rounded down to a multiple of 4, ending in one
 * `=` of padding as most real answers do. Sizes below a bare PNG give the 1x1 PNG.
 */
export function paddedPng(base64Length: number, seed: number): ImageAsset {
  const rawBytes = Math.floor(base64Length / 4) * 3 - 1;
  const fillerBytes = rawBytes - TINY_PNG.length - 12;
  if (fillerBytes < 0) return tinyPng();
  const filler = Buffer.allocUnsafe(fillerBytes);
  fill(filler, seed);
  const head = TINY_PNG.subarray(0, TINY_PNG.length - IEND.length);
  return asset(Buffer.concat([head, pngChunk('ngPd', filler), IEND]));
}
