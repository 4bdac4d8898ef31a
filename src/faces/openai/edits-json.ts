/**
 * Image edits with their images as URLs (#14.6): OpenAI's JSON form of `POST /v1/images/edits`
 * (`images: [{image_url: "data:…"}]`), and the same `image_url` given as text fields of a
 * multipart form (`images[][image_url]`, as the SDK encodes an array of objects, or
 * `image_url`). They work like uploaded files: data URLs always, http(s) URLs on the hosts the
 * operator allows.
 */
import { GatewayError } from '../../errors/gateway-error.js';
import type { EditsRequest } from './edits-request.js';
import { parseImageFields, type ParseOptions } from './generations-request.js';
import { resolveImageUrl, type ImageUrlPolicy, type InlineImage } from './image-inputs.js';

const URL_FIELD = /^(?:images\[(\d*)\]\[image_url\]|image_url(?:\[(\d*)\])?)$/;

/** The `image_url` text fields of a multipart edits form, in field order, resolved. */
export async function editsImageUrls(fields: Readonly<Record<string, string>>, policy: ImageUrlPolicy, signal?: AbortSignal): Promise<InlineImage[]> {
  const out: InlineImage[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (URL_FIELD.test(name)) out.push(await resolveImageUrl(value, name, policy, signal));
  }
  return out;
}

/** `POST /v1/images/edits` with a JSON body: the fields generations takes, plus `images`. */
export async function parseEditsJson(body: unknown, opts: ParseOptions, policy: ImageUrlPolicy, signal?: AbortSignal): Promise<EditsRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayError('INVALID_ARGUMENT', 'The request body must be a JSON object.');
  const fields = body as Record<string, unknown>;
  if (fields['mask'] !== undefined && fields['mask'] !== null) {
    throw new GatewayError('INVALID_ARGUMENT', "Invalid 'mask': masks are not supported: Gemini image models take no mask input. Describe the area to change in the prompt instead.", {
      param: 'mask',
    });
  }
  const request = parseImageFields(fields, opts, 'json');
  const listed = fields['images'];
  if (listed === undefined || listed === null) throw new GatewayError('INVALID_ARGUMENT', "Missing required parameter: 'images'.", { param: 'images' });
  if (!Array.isArray(listed) || listed.length === 0) throw new GatewayError('INVALID_ARGUMENT', "Invalid 'images': expected a non-empty array of {image_url}.", { param: 'images' });
  if (listed.length > request.model.maxReferenceImages) {
    throw new GatewayError(
      'INVALID_ARGUMENT',
      `Invalid 'images': too many images. ${request.model.id} accepts at most ${request.model.maxReferenceImages} reference images, but got ${listed.length}.`,
      { param: 'images' },
    );
  }
  const images: InlineImage[] = [];
  for (const [i, item] of listed.entries()) {
    const url = typeof item === 'object' && item !== null ? (item as Record<string, unknown>)['image_url'] : undefined;
    if (typeof url !== 'string' || url === '') {
      throw new GatewayError('INVALID_ARGUMENT', `Invalid 'images[${i}]': give the image as 'image_url' (a data URL); file ids are not supported.`, { param: `images[${i}]` });
    }
    images.push(await resolveImageUrl(url, `images[${i}].image_url`, policy, signal));
  }
  return { ...request, images };
}
