import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { convertBase64, convertImage, needsConversion } from '../../../src/faces/openai/image-output.js';

describe('needsConversion: only when the client asked for something Google did not send', () => {
  it.each([
    ['image/png', {}, false],
    ['image/png', { format: 'png' }, false],
    ['image/png', { format: 'png', compression: 50 }, false],
    ['image/png', { format: 'jpeg' }, true],
    ['image/png', { format: 'webp' }, true],
    ['image/jpeg', { format: 'jpeg' }, false],
    ['image/jpeg', { format: 'jpeg', compression: 100 }, false],
    ['image/jpeg', { format: 'jpeg', compression: 40 }, true],
    ['image/jpeg', { compression: 40 }, true],
    ['image/jpeg', { format: 'png' }, true],
  ] as const)('%s with %j: %s', (mime, options, expected) => {
    expect(needsConversion(mime, options)).toBe(expected);
  });
});

describe('convertImage (sharp)', () => {
  const red = () => sharp({ create: { width: 8, height: 4, channels: 3, background: '#ff0000' } }).png().toBuffer();

  it.each(['jpeg', 'webp'] as const)('converts a PNG to %s, keeping its pixels’ size', async (format) => {
    const out = await convertImage(await red(), 'image/png', { format, compression: 70 });
    expect(out.mimeType).toBe(`image/${format}`);
    const meta = await sharp(out.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual([format, 8, 4]);
  });

  it('compresses more at a lower output_compression', async () => {
    const noisy = await sharp(Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 251)), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    const low = await convertImage(noisy, 'image/png', { format: 'jpeg', compression: 10 });
    const high = await convertImage(noisy, 'image/png', { format: 'jpeg', compression: 95 });
    expect(low.bytes.length).toBeLessThan(high.bytes.length);
  });

  it('hands back the very pieces when nothing changes, and base64 of the new image when it does', async () => {
    const png = await red();
    const pieces = [Buffer.from(png.toString('base64'), 'latin1')];
    expect((await convertBase64(pieces, 'image/png', {})).base64[0]).toBe(pieces[0]);
    const jpeg = await convertBase64(pieces, 'image/png', { format: 'jpeg' });
    expect((await sharp(Buffer.from(jpeg.base64[0]!.toString('latin1'), 'base64')).metadata()).format).toBe('jpeg');
  });

  it('blames Google’s bytes when they do not decode', async () => {
    await expect(convertImage(Buffer.from('not an image'), 'image/png', { format: 'jpeg' })).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
  });
});
