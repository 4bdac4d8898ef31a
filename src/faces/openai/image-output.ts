import { GatewayError } from '../../errors/gateway-error.js';

/** OpenAI's `output_format` values (openai-images.md §2). */
export const OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** What the client asked the image to be: `output_format`, `output_compression` (0-100). */
export interface ImageOutputOptions {
  format?: OutputFormat;
  compression?: number;
}

export const MIME_TYPE: Readonly<Record<OutputFormat, string>> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

/** OpenAI's name for an image type Google sent, if it has one. */
export function formatOfMimeType(mimeType: string): OutputFormat | undefined {
  const type = mimeType.split(';')[0]?.trim().toLowerCase();
  if (type === 'image/png') return 'png';
  if (type === 'image/jpeg' || type === 'image/jpg') return 'jpeg';
  if (type === 'image/webp') return 'webp';
  return undefined;
}

/**
 * Whether an image Google sent as `mimeType` must be re-encoded for the client: its format
 * differs from the one asked for, or a jpeg/webp compression was asked for (OpenAI's
 * output_compression, where 100 is the default and means "as good as it gets"). An image
 * already in the wanted format, with no compression asked, goes out byte for byte as Google
 * sent it: no decode, no re-encode.
 */
export function needsConversion(mimeType: string, options: ImageOutputOptions): boolean {
  const current = formatOfMimeType(mimeType);
  const target = options.format ?? current;
  if (target === undefined) return false;
  if (target !== current) return true;
  return options.compression !== undefined && options.compression < 100 && target !== 'png';
}

/** The format an image ends up in: the one asked for, else Google's own. */
export function outputFormatOf(mimeType: string, options: ImageOutputOptions): OutputFormat | undefined {
  return options.format ?? formatOfMimeType(mimeType);
}

type Sharp = (typeof import('sharp'))['default'];
let sharpModule: Promise<Sharp> | undefined;

/**
 * sharp (libvips, shipped prebuilt for linux-x64 glibc and musl through npm's @img/* packages)
 * is loaded on first use: a machine where its binary cannot load still serves every request
 * that needs no conversion, and the ones that do get a clear 500 naming the cause.
 */
async function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then((m) => m.default);
  try {
    return await sharpModule;
  } catch (e) {
    sharpModule = undefined;
    throw new GatewayError('INTERNAL', `The image library (sharp) could not be loaded: ${(e as Error).message}`);
  }
}

/** Re-encodes `bytes` (an image of `mimeType`) as the client asked; the input when nothing needs to change. */
export async function convertImage(bytes: Buffer, mimeType: string, options: ImageOutputOptions): Promise<{ bytes: Buffer; mimeType: string }> {
  if (!needsConversion(mimeType, options)) return { bytes, mimeType };
  const target = options.format ?? formatOfMimeType(mimeType)!;
  const sharp = await loadSharp();
  // OpenAI's compression is a quality percentage (100: best); libvips takes 1-100.
  const quality = Math.max(1, Math.min(100, options.compression ?? 100));
  try {
    const image = sharp(bytes, { failOn: 'error' });
    const out =
      target === 'png'
        ? await image.png().toBuffer()
        : target === 'jpeg'
          ? // JPEG has no alpha: flatten onto white rather than let transparent pixels turn black.
            await image.flatten({ background: '#ffffff' }).jpeg({ quality, mozjpeg: true }).toBuffer()
          : await image.webp({ quality }).toBuffer();
    return { bytes: out, mimeType: MIME_TYPE[target] };
  } catch (e) {
    // Google's bytes did not decode: its image, not the gateway, is at fault.
    throw new GatewayError('UPSTREAM_ERROR', `Google's image could not be converted to ${target}: ${(e as Error).message}`);
  }
}

/**
 * An image as base64 pieces (as captured from Google's answer), converted as the client asked:
 * the same pieces when nothing needs to change, else one Buffer of the new image's base64.
 */
export async function convertBase64(pieces: readonly Buffer[], mimeType: string, options: ImageOutputOptions): Promise<{ base64: Buffer[]; mimeType: string }> {
  if (!needsConversion(mimeType, options)) return { base64: [...pieces], mimeType };
  const joined = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  const out = await convertImage(Buffer.from(joined.toString('latin1'), 'base64'), mimeType, options);
  return { base64: [Buffer.from(out.bytes.toString('base64'), 'latin1')], mimeType: out.mimeType };
}
