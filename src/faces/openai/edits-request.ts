import { GatewayError } from '../../errors/gateway-error.js';
import { parseImageFields, type GenerationsRequest, type ParseOptions } from './generations-request.js';

export interface UploadedFile {
  fieldname: string;
  mimeType: string;
  data: Buffer;
}

export interface EditsRequest extends GenerationsRequest {
  /** Reference images in upload order, as Gemini inlineData. */
  images: Array<{ mimeType: string; base64: string }>;
}

/** Gemini's accepted input types (google-api.md §2). */
const GEMINI_INPUT_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/heic', 'image/heif']);

/** `image` once or repeated, `image[]` (the OpenAI SDK's array form), and `image[0]`-style indexes some form libraries write. */
const IMAGE_FIELD = /^image(\[\d*\])?$/;

/** HEIF-family brands in the ISO-BMFF `ftyp` box: heic/heix/heim/heis are HEIC, mif1/msf1/heif plain HEIF. */
const HEIC_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx']);
const HEIF_BRANDS = new Set(['mif1', 'msf1', 'heif']);

/** The image type from the file's first bytes, for uploads that arrive without a usable type. */
export function sniffImageType(data: Buffer): string | undefined {
  if (data.length >= 8 && data.readUInt32BE(0) === 0x89504e47 && data.readUInt32BE(4) === 0x0d0a1a0a) return 'image/png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'image/jpeg';
  if (data.length >= 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  if (data.length >= 12 && data.toString('latin1', 4, 8) === 'ftyp') {
    const brand = data.toString('latin1', 8, 12);
    if (HEIC_BRANDS.has(brand)) return 'image/heic';
    if (HEIF_BRANDS.has(brand)) return 'image/heif';
  }
  return undefined;
}

/**
 * The type Gemini is told. The bytes decide when they are a known image: a part sent without
 * its own Content-Type (busboy then says `text/plain`), as `application/octet-stream` (the
 * OpenAI SDK's `toFile(buffer)` without a type) or with a wrong one is still the PNG it is.
 * Bytes no sniffer knows are trusted to a declared supported type (`image/jpg` is a common
 * misspelling of `image/jpeg`).
 */
function imageMimeType(file: UploadedFile, index: number): string {
  const sniffed = sniffImageType(file.data);
  if (sniffed) return sniffed;
  const declared = file.mimeType.split(';')[0]?.trim().toLowerCase() ?? '';
  const normalized = declared === 'image/jpg' ? 'image/jpeg' : declared;
  if (GEMINI_INPUT_TYPES.has(normalized)) return normalized;
  throw new GatewayError(
    'INVALID_ARGUMENT',
    `Invalid file type for image ${index + 1}: '${declared || 'unknown'}'. Supported types are: 'image/png', 'image/jpeg', 'image/webp', 'image/heic', 'image/heif'.`,
    { param: 'image' },
  );
}

/**
 * `POST /v1/images/edits` multipart fields and files to a typed request (contract §6). Text
 * fields are validated as generations' are, with `n` and `stream` read from their string form.
 *
 * `mask` is refused with a 400 rather than ignored: Gemini takes no mask, and an edit that
 * silently repaints the whole image is worse than being told to describe the region in the
 * prompt instead.
 */
export function parseEditsFields(
  fields: Readonly<Record<string, string>>,
  files: readonly UploadedFile[],
  opts: ParseOptions,
  /** Images given as `image_url` (data URLs, #14.6): after the files, like more uploads. */
  urlImages: ReadonlyArray<{ mimeType: string; base64: string }> = [],
): EditsRequest {
  const images: UploadedFile[] = [];
  for (const file of files) {
    if (IMAGE_FIELD.test(file.fieldname)) {
      images.push(file);
    } else if (file.fieldname === 'mask') {
      throw new GatewayError(
        'INVALID_ARGUMENT',
        "Invalid 'mask': masks are not supported: Gemini image models take no mask input. Describe the area to change in the prompt instead.",
        { param: 'mask' },
      );
    } else {
      throw new GatewayError('INVALID_ARGUMENT', `Unexpected file field '${file.fieldname}'. Send images as 'image' or 'image[]'.`, {
        param: file.fieldname,
      });
    }
  }

  const request = parseImageFields(fields, opts, 'form');

  if (images.length + urlImages.length === 0) throw new GatewayError('INVALID_ARGUMENT', "Missing required parameter: 'image'.", { param: 'image' });
  const max = request.model.maxReferenceImages;
  if (images.length + urlImages.length > max) {
    throw new GatewayError(
      'INVALID_ARGUMENT',
      `Invalid 'image': too many images. ${request.model.id} accepts at most ${max} reference images, but got ${images.length + urlImages.length}.`,
      { param: 'image' },
    );
  }
  const inline = images.map((file, index) => {
    if (file.data.length === 0) {
      throw new GatewayError('INVALID_ARGUMENT', `Invalid 'image': image ${index + 1} is an empty file.`, { param: 'image' });
    }
    return { mimeType: imageMimeType(file, index), base64: file.data.toString('base64') };
  });
  return { ...request, images: [...inline, ...urlImages] };
}
