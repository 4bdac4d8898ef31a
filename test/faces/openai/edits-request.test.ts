import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import { loadModelTable } from '../../../src/models/model-table.js';
import { ModelResolver } from '../../../src/models/resolver.js';
import { ManualClock } from '../../../src/time/clock.js';
import { parseEditsFields, type UploadedFile } from '../../../src/faces/openai/edits-request.js';
import type { ParseOptions } from '../../../src/faces/openai/generations-request.js';

function optionsAt(at: string): ParseOptions {
  const resolver = new ModelResolver({ table: loadModelTable(), clock: new ManualClock(at) });
  return { resolve: (name) => resolver.resolve(name), defaultModel: 'gemini-3-pro-image', servedModels: resolver.servedNames() };
}
/** The lineup of 2026-11-28 (config/models.yaml). */
const opts = optionsAt('2026-11-28T12:00:00Z');
/** Before gemini-2.5-flash-image's shutdown (2026-10-02), when it still served requests. */
const beforeFlash25Shutdown = optionsAt('2026-09-01T12:00:00Z');

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('png body')]);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('jpeg body')]);
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.from([0, 0, 0, 0]), Buffer.from('WEBPVP8 body')]);
const HEIC = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.from('rest')]);
const HEIF = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypmif1'), Buffer.from('rest')]);
const GIF = Buffer.from('GIF89a body');

function file(fieldname: string, mimeType: string, data: Buffer): UploadedFile {
  return { fieldname, mimeType, data };
}

function refusal(fields: Record<string, string>, files: UploadedFile[], options: ParseOptions = opts): GatewayError {
  try {
    parseEditsFields(fields, files, options);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('parseEditsFields: images', () => {
  const forms: Array<[string, string[]]> = [
    ['one image', ['image']],
    ['repeated image', ['image', 'image', 'image']],
    ['image[] (the OpenAI SDK array form)', ['image[]', 'image[]']],
    ['indexed image[0], image[1]', ['image[0]', 'image[1]']],
  ];
  for (const [name, fieldnames] of forms) {
    it(`takes ${name} in upload order`, () => {
      const datas = fieldnames.map((_, i) => Buffer.concat([PNG, Buffer.from([i, 255 - i])]));
      const req = parseEditsFields(
        { prompt: 'edit' },
        fieldnames.map((f, i) => file(f, 'image/png', datas[i]!)),
        opts,
      );
      expect(req.images).toEqual(datas.map((d) => ({ mimeType: 'image/png', base64: d.toString('base64') })));
    });
  }

  const types: Array<[string, Buffer, string]> = [
    ['image/png', PNG, 'image/png'],
    ['image/jpeg', JPEG, 'image/jpeg'],
    ['image/jpg', JPEG, 'image/jpeg'],
    ['IMAGE/PNG', PNG, 'image/png'],
    ['image/webp', WEBP, 'image/webp'],
    ['image/heic', HEIC, 'image/heic'],
    ['image/heif', HEIF, 'image/heif'],
    ['application/octet-stream', PNG, 'image/png'],
    ['application/octet-stream', JPEG, 'image/jpeg'],
    ['application/octet-stream', WEBP, 'image/webp'],
    ['application/octet-stream', HEIC, 'image/heic'],
    ['', HEIF, 'image/heif'],
    ['', JPEG, 'image/jpeg'],
    // A part without its own Content-Type reaches the parser as text/plain: the bytes decide.
    ['text/plain', PNG, 'image/png'],
    ['image/jpeg', PNG, 'image/png'],
    ['image/png', Buffer.from('not sniffable'), 'image/png'],
  ];
  for (const [declared, data, expected] of types) {
    it(`sends a file declared '${declared}' starting ${data.subarray(0, 4).toString('hex')} as ${expected}`, () => {
      expect(parseEditsFields({ prompt: 'x' }, [file('image', declared, data)], opts).images[0]?.mimeType).toBe(expected);
    });
  }

  const badTypes: Array<[string, Buffer]> = [
    ['image/gif', GIF],
    ['image/svg+xml', Buffer.from('<svg/>')],
    ['application/octet-stream', GIF],
    ['', Buffer.from('hello')],
    ['text/plain', Buffer.from('hello')],
  ];
  for (const [declared, data] of badTypes) {
    it(`refuses a file declared '${declared}' whose bytes are not a supported image`, () => {
      const e = refusal({ prompt: 'x' }, [file('image', declared, data)]);
      expect(e.details.param).toBe('image');
      expect(e.message).toContain('image/png');
    });
  }

  it('refuses a request without images', () => {
    const e = refusal({ prompt: 'x' }, []);
    expect(e.details.param).toBe('image');
    expect(e.message).toBe("Missing required parameter: 'image'.");
  });

  it('refuses an empty file', () => {
    expect(refusal({ prompt: 'x' }, [file('image', 'image/png', Buffer.alloc(0))]).details.param).toBe('image');
  });

  // maxReferenceImages (config/models.yaml): Pro, 2.1 and Lite 14; 2.5 Flash 3.
  const counts: Array<[string, number, boolean, ParseOptions?, string?]> = [
    ['gemini-3-pro-image', 14, true],
    ['gemini-3-pro-image', 15, false],
    ['nano-banana-2', 14, true],
    ['nano-banana-2', 15, false],
    ['nano-banana', 14, true],
    ['nano-banana', 15, false],
    ['gemini-2.5-flash-image', 3, true, beforeFlash25Shutdown, ' before its shutdown'],
    ['gemini-2.5-flash-image', 4, false, beforeFlash25Shutdown, ' before its shutdown'],
    // After it, Lite serves the name, with Lite's limit.
    ['gemini-2.5-flash-image', 14, true, opts, ' after its shutdown'],
  ];
  for (const [model, count, ok, options = opts, when = ''] of counts) {
    it(`${ok ? 'takes' : 'refuses'} ${count} images for ${model}${when}`, () => {
      const files = Array.from({ length: count }, () => file('image[]', 'image/png', PNG));
      if (ok) {
        expect(parseEditsFields({ prompt: 'x', model }, files, options).images).toHaveLength(count);
      } else {
        const e = refusal({ prompt: 'x', model }, files, options);
        expect(e.details.param).toBe('image');
        expect(e.message).toContain('too many images');
      }
    });
  }

  it('refuses a mask with a 400 naming mask, since Gemini takes none', () => {
    const e = refusal({ prompt: 'x' }, [file('image', 'image/png', PNG), file('mask', 'image/png', PNG)]);
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.details.param).toBe('mask');
    expect(e.message).toMatch(/prompt/);
  });

  it('refuses a file in an unexpected field, naming it', () => {
    expect(refusal({ prompt: 'x' }, [file('images', 'image/png', PNG)]).details.param).toBe('images');
  });
});

describe('parseEditsFields: text fields, read from their string form', () => {
  it('reads n, size, model and user', () => {
    const req = parseEditsFields({ prompt: 'x', n: '2', size: '1024x1536', model: 'nano-banana-2', user: 'u' }, [file('image', 'image/png', PNG)], opts);
    expect(req).toMatchObject({ n: 2, imageConfig: { aspectRatio: '2:3', imageSize: '1K' }, modelAsked: 'nano-banana-2', user: 'u' });
    expect(req.model.id).toBe('gemini-nano-banana-2.1');
  });

  it("reads stream and partial_images from their string form, and ignores input_fidelity", () => {
    const req = parseEditsFields({ prompt: 'x', stream: 'true', partial_images: '2', quality: 'high', background: 'opaque', input_fidelity: 'high' }, [file('image', 'image/png', PNG)], opts);
    expect(req).toMatchObject({ n: 1, stream: true, partialImages: 2, imageConfig: { imageSize: '2K' } });
    expect(parseEditsFields({ prompt: 'x', stream: 'false' }, [file('image', 'image/png', PNG)], opts).stream).toBe(false);
  });

  it('takes images given as image_url after the uploaded files (#14.6)', () => {
    const extra = { mimeType: 'image/webp', base64: 'UklGRg==' };
    const req = parseEditsFields({ prompt: 'x' }, [file('image', 'image/png', PNG)], opts, [extra]);
    expect(req.images.map((i) => i.mimeType)).toEqual(['image/png', 'image/webp']);
    expect(parseEditsFields({ prompt: 'x' }, [], opts, [extra]).images).toEqual([extra]);
  });

  const cases: Array<[Record<string, string>, string, string]> = [
    [{}, 'prompt', 'MISSING'],
    [{ prompt: '' }, 'prompt', 'INVALID'],
    [{ prompt: 'x', n: 'two' }, 'n', 'TYPE'],
    [{ prompt: 'x', n: '2.5' }, 'n', 'TYPE'],
    [{ prompt: 'x', n: '0' }, 'n', 'RANGE'],
    [{ prompt: 'x', n: '11' }, 'n', 'RANGE'],
    [{ prompt: 'x', stream: 'yes' }, 'stream', 'TYPE'],
    [{ prompt: 'x', partial_images: 'four' }, 'partial_images', 'TYPE'],
    [{ prompt: 'x', response_format: 'gif' }, 'response_format', 'INVALID'],
    [{ prompt: 'x', background: 'transparent' }, 'background', 'INVALID'],
    [{ prompt: 'x', size: '4K', model: 'nano-banana' }, 'size', 'INVALID'],
    [{ prompt: 'x', size: 'big' }, 'size', 'INVALID'],
    [{ prompt: 'x', model: 'dall-e-2' }, 'model', 'MODEL'],
  ];
  for (const [fields, param, kind] of cases) {
    it(`refuses ${JSON.stringify(fields)} naming ${param}`, () => {
      const e = refusal(fields, [file('image', 'image/png', PNG)]);
      expect(e.details.param).toBe(param);
      expect(e.code).toBe(kind === 'MODEL' ? 'MODEL_NOT_FOUND' : 'INVALID_ARGUMENT');
      if (kind === 'MISSING') expect(e.message).toMatch(/^Missing required parameter/);
      if (kind === 'TYPE') expect(e.message).toMatch(/^Invalid type/);
    });
  }
});
