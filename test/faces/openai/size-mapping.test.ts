import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import type { ModelSpec } from '../../../src/models/catalog.js';
import { loadModelTable } from '../../../src/models/model-table.js';
import { mapSize, outputPixels } from '../../../src/faces/openai/size-mapping.js';

const TABLE = loadModelTable();
function model(id: string): ModelSpec {
  const m = TABLE.byId.get(id);
  if (!m) throw new Error(`no model ${id}`);
  return m;
}

const pro = model('gemini-3-pro-image');
/** Deprecated but served: the only model with 512 (config/models.yaml). */
const flash31 = model('gemini-3.1-flash-image');
/** 1K / 2K / 4K, no 512, 14 ratios (models-2026-11.md §2). */
const nb21 = model('gemini-nano-banana-2.1');
/** 1K only, 10 ratios (models-2026-11.md §2). */
const lite = model('gemini-3.1-flash-lite-image');
// Shut down 2026-10-02, so no request reaches it; it stays in the table with its data, and is
// the only model without a size option and with its own (flash25) pixel table.
const flash25 = model('gemini-2.5-flash-image');

function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error('expected a GatewayError');
}

// google-api.md §2, "Output pixel sizes", copied by hand: ratio, 2.5 Flash, 1K, 2K, 4K.
const PIXEL_TABLE: Array<[string, string, string, string, string]> = [
  ['1:1', '1024x1024', '1024x1024', '2048x2048', '4096x4096'],
  ['2:3', '832x1248', '848x1264', '1696x2528', '3392x5056'],
  ['3:2', '1248x832', '1264x848', '2528x1696', '5056x3392'],
  ['3:4', '864x1184', '896x1200', '1792x2400', '3584x4800'],
  ['4:3', '1184x864', '1200x896', '2400x1792', '4800x3584'],
  ['4:5', '896x1152', '928x1152', '1856x2304', '3712x4608'],
  ['5:4', '1152x896', '1152x928', '2304x1856', '4608x3712'],
  ['9:16', '768x1344', '768x1376', '1536x2752', '3072x5504'],
  ['16:9', '1344x768', '1376x768', '2752x1536', '5504x3072'],
  ['21:9', '1536x672', '1584x672', '3168x1344', '6336x2688'],
];

// 3.1 Flash only: observed 1K sizes; 2K/4K as doublings (unverified in the reference).
const FLASH31_EXTRA: Array<[string, string, string, string]> = [
  ['1:4', '512x2064', '1024x4128', '2048x8256'],
  ['4:1', '2064x512', '4128x1024', '8256x2048'],
  ['1:8', '352x2928', '704x5856', '1408x11712'],
  ['8:1', '2928x352', '5856x704', '11712x1408'],
];

/** `size` with `factor` times its pixels, at the same ratio. */
function scaled(size: string, factor: number): string {
  const [w, h] = size.split('x').map(Number) as [number, number];
  const k = Math.sqrt(factor);
  return `${Math.round(w * k)}x${Math.round(h * k)}`;
}

describe('mapSize: every row of the output pixel table', () => {
  for (const [ratio, f25, oneK, twoK, fourK] of PIXEL_TABLE) {
    for (const m of [pro, flash31, nb21]) {
      it(`maps ${m.id} ${oneK} / ${twoK} / ${fourK} to ${ratio} at 1K / 2K / 4K`, () => {
        expect(mapSize(m, { size: oneK })).toEqual({ aspectRatio: ratio, imageSize: '1K' });
        expect(mapSize(m, { size: twoK })).toEqual({ aspectRatio: ratio, imageSize: '2K' });
        expect(mapSize(m, { size: fourK })).toEqual({ aspectRatio: ratio, imageSize: '4K' });
      });
      it(`picks the ${m.id} size at ${ratio} whose pixels are nearest, and refuses over twice ${fourK}'s`, () => {
        // 1K, 2K and 4K have 1x, 4x and 16x the pixels: the nearest changes at 2.5x and 10x.
        expect(mapSize(m, { size: scaled(oneK, 1.3) })).toEqual({ aspectRatio: ratio, imageSize: '1K' });
        expect(mapSize(m, { size: scaled(oneK, 2.3) })).toEqual({ aspectRatio: ratio, imageSize: '1K' });
        expect(mapSize(m, { size: scaled(oneK, 2.7) })).toEqual({ aspectRatio: ratio, imageSize: '2K' });
        expect(mapSize(m, { size: scaled(oneK, 9) })).toEqual({ aspectRatio: ratio, imageSize: '2K' });
        expect(mapSize(m, { size: scaled(oneK, 11) })).toEqual({ aspectRatio: ratio, imageSize: '4K' });
        expect(mapSize(m, { size: scaled(fourK, 1.9) })).toEqual({ aspectRatio: ratio, imageSize: '4K' });
        expect(refusal(() => mapSize(m, { size: scaled(fourK, 2.2) })).details.param).toBe('size');
      });
    }
    it(`maps Lite ${oneK} and up to twice its pixels to ${ratio} at 1K, its only size, and refuses more`, () => {
      expect(mapSize(lite, { size: oneK })).toEqual({ aspectRatio: ratio, imageSize: '1K' });
      expect(mapSize(lite, { size: scaled(oneK, 1.9) })).toEqual({ aspectRatio: ratio, imageSize: '1K' });
      expect(refusal(() => mapSize(lite, { size: scaled(oneK, 2.2) })).details.param).toBe('size');
      expect(refusal(() => mapSize(lite, { size: twoK })).details.param).toBe('size');
    });
    it(`maps 2.5 Flash ${f25} and up to twice its pixels to ${ratio} alone, and refuses more`, () => {
      expect(mapSize(flash25, { size: f25 })).toEqual({ aspectRatio: ratio });
      expect(mapSize(flash25, { size: scaled(f25, 1.9) })).toEqual({ aspectRatio: ratio });
      const e = refusal(() => mapSize(flash25, { size: scaled(f25, 2.2) }));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.details.param).toBe('size');
    });
    it(`reports ${ratio} pixels per model and size`, () => {
      expect(outputPixels(flash25, ratio)?.join('x')).toBe(f25);
      expect(outputPixels(pro, ratio, '1K')?.join('x')).toBe(oneK);
      expect(outputPixels(pro, ratio, '2K')?.join('x')).toBe(twoK);
      expect(outputPixels(flash31, ratio, '4K')?.join('x')).toBe(fourK);
      expect(outputPixels(nb21, ratio, '4K')?.join('x')).toBe(fourK);
      expect(outputPixels(lite, ratio)?.join('x')).toBe(oneK);
      expect(outputPixels(pro, ratio, '512')).toBeUndefined();
      expect(outputPixels(nb21, ratio, '512')).toBeUndefined();
      expect(outputPixels(lite, ratio, '2K')).toBeUndefined();
    });
  }
  for (const [ratio, oneK, twoK, fourK] of FLASH31_EXTRA) {
    for (const m of [flash31, nb21]) {
      it(`maps ${m.id} ${oneK} / ${twoK} / ${fourK} to ${ratio}, a ratio Pro and Lite lack`, () => {
        expect(mapSize(m, { size: oneK })).toEqual({ aspectRatio: ratio, imageSize: '1K' });
        expect(mapSize(m, { size: twoK })).toEqual({ aspectRatio: ratio, imageSize: '2K' });
        expect(mapSize(m, { size: fourK })).toEqual({ aspectRatio: ratio, imageSize: '4K' });
        expect(mapSize(pro, { size: oneK }).aspectRatio).not.toBe(ratio);
        // Lite lacks the ratio: its nearest one, at 1K, has as many pixels.
        expect(mapSize(lite, { size: oneK })).toEqual({ aspectRatio: ratio.startsWith('1:') ? '9:16' : '21:9', imageSize: '1K' });
      });
    }
  }
});

describe('mapSize: the sizes OpenAI clients send', () => {
  const cases: Array<[ModelSpec, string, { aspectRatio?: string; imageSize?: string }]> = [
    // #14.6: the standard OpenAI sizes are 1K at 1K's price, not 2K at +50%.
    [pro, '1024x1024', { aspectRatio: '1:1', imageSize: '1K' }],
    [pro, '1536x1024', { aspectRatio: '3:2', imageSize: '1K' }],
    [pro, '1024x1536', { aspectRatio: '2:3', imageSize: '1K' }],
    [pro, '1792x1024', { aspectRatio: '16:9', imageSize: '1K' }],
    [pro, '1024x1792', { aspectRatio: '9:16', imageSize: '1K' }],
    [pro, '1920x1080', { aspectRatio: '16:9', imageSize: '1K' }],
    [pro, '2560x1440', { aspectRatio: '16:9', imageSize: '2K' }],
    [pro, '1280x720', { aspectRatio: '16:9', imageSize: '1K' }],
    [pro, '256x256', { aspectRatio: '1:1', imageSize: '1K' }],
    [pro, '2048x2048', { aspectRatio: '1:1', imageSize: '2K' }],
    [pro, '4096x4096', { aspectRatio: '1:1', imageSize: '4K' }],
    [pro, '3840x2160', { aspectRatio: '16:9', imageSize: '2K' }],
    [pro, '4000x500', { aspectRatio: '21:9', imageSize: '1K' }],
    [pro, '1000x1100', { aspectRatio: '1:1', imageSize: '1K' }],
    [pro, '1300x1000', { aspectRatio: '4:3', imageSize: '1K' }],
    [flash31, '256x256', { aspectRatio: '1:1', imageSize: '512' }],
    [flash31, '512x512', { aspectRatio: '1:1', imageSize: '512' }],
    [flash31, '513x513', { aspectRatio: '1:1', imageSize: '512' }],
    [flash31, '800x800', { aspectRatio: '1:1', imageSize: '512' }],
    [flash31, '900x900', { aspectRatio: '1:1', imageSize: '1K' }],
    [flash31, '4000x500', { aspectRatio: '8:1', imageSize: '1K' }],
    [flash31, '1024X1024', { aspectRatio: '1:1', imageSize: '1K' }],
    [nb21, '256x256', { aspectRatio: '1:1', imageSize: '1K' }],
    [nb21, '512x512', { aspectRatio: '1:1', imageSize: '1K' }],
    [nb21, '1536x1024', { aspectRatio: '3:2', imageSize: '1K' }],
    [nb21, '4000x500', { aspectRatio: '8:1', imageSize: '1K' }],
    [flash25, '1024x1024', { aspectRatio: '1:1' }],
    [flash25, '512x512', { aspectRatio: '1:1' }],
    [flash25, '1280x720', { aspectRatio: '16:9' }],
  ];
  for (const [m, size, expected] of cases) {
    it(`maps ${size} on ${m.id} to ${JSON.stringify(expected)}`, () => {
      expect(mapSize(m, { size })).toEqual(expected);
    });
  }
});

describe('mapSize: every standard OpenAI size works on a 1K-only model (#14.6)', () => {
  const standard: Array<[string, string]> = [
    ['256x256', '1:1'],
    ['512x512', '1:1'],
    ['1024x1024', '1:1'],
    ['1536x1024', '3:2'],
    ['1024x1536', '2:3'],
    ['1792x1024', '16:9'],
    ['1024x1792', '9:16'],
  ];
  for (const [size, ratio] of standard) {
    it(`maps ${size} to ${ratio} at 1K on Lite, and to ${ratio} on 2.5 Flash`, () => {
      expect(mapSize(lite, { size })).toEqual({ aspectRatio: ratio, imageSize: '1K' });
      expect(mapSize(flash25, { size })).toEqual({ aspectRatio: ratio });
    });
  }
});

describe('mapSize: quality chooses the size where size does not', () => {
  const cases: Array<[ModelSpec, string, unknown, { aspectRatio?: string; imageSize?: string }]> = [
    [pro, 'low', undefined, { imageSize: '1K' }],
    [pro, 'medium', undefined, { imageSize: '1K' }],
    [pro, 'standard', 'auto', { imageSize: '1K' }],
    [pro, 'high', undefined, { imageSize: '2K' }],
    [pro, 'hd', 'auto', { imageSize: '2K' }],
    [pro, 'auto', undefined, {}],
    [flash31, 'low', undefined, { imageSize: '512' }],
    [nb21, 'low', undefined, { imageSize: '1K' }],
    // Lite makes 1K only: quality is a hint, never a refusal.
    [lite, 'high', undefined, { imageSize: '1K' }],
    [lite, 'hd', undefined, { imageSize: '1K' }],
    [flash25, 'high', undefined, {}],
    // A size that says decides; quality then changes nothing.
    [pro, 'high', '1024x1024', { aspectRatio: '1:1', imageSize: '1K' }],
    [pro, 'low', '4K', { imageSize: '4K' }],
    [lite, 'hd', '1792x1024', { aspectRatio: '16:9', imageSize: '1K' }],
  ];
  for (const [m, quality, size, expected] of cases) {
    it(`quality ${quality} with size ${String(size)} on ${m.id} is ${JSON.stringify(expected)}`, () => {
      expect(mapSize(m, { quality, size })).toEqual(expected);
    });
  }
  it('keeps an aspect_ratio given with a quality', () => {
    expect(mapSize(pro, { quality: 'hd', aspect_ratio: '16:9' })).toEqual({ aspectRatio: '16:9', imageSize: '2K' });
  });
  it('refuses a quality OpenAI does not have, naming it', () => {
    for (const quality of ['ultra', 'HD', 3]) {
      const e = refusal(() => mapSize(pro, { quality }));
      expect(e.details.param).toBe('quality');
    }
  });
});

describe('mapSize: named sizes', () => {
  const cases: Array<[ModelSpec, string, string | undefined]> = [
    [pro, '1K', '1K'],
    [pro, '2K', '2K'],
    [pro, '4K', '4K'],
    [pro, '4k', '4K'],
    [flash31, '512', '512'],
    [flash31, '1K', '1K'],
    [flash31, '2k', '2K'],
    [flash31, '4K', '4K'],
    [nb21, '1K', '1K'],
    [nb21, '2K', '2K'],
    [nb21, '4k', '4K'],
    [lite, '1K', '1K'],
    [lite, '1k', '1K'],
  ];
  for (const [m, size, imageSize] of cases) {
    it(`sets imageSize ${imageSize} for '${size}' on ${m.id}`, () => {
      expect(mapSize(m, { size })).toEqual({ imageSize });
    });
  }
  it("accepts '1K' on 2.5 Flash, its only size, without sending an imageSize it lacks", () => {
    expect(mapSize(flash25, { size: '1K' })).toEqual({});
  });
  it('leaves both to Google for auto, absent and null', () => {
    for (const m of [pro, flash31, nb21, lite, flash25]) {
      expect(mapSize(m, { size: 'auto' })).toEqual({});
      expect(mapSize(m, {})).toEqual({});
      expect(mapSize(m, { size: null, aspect_ratio: null })).toEqual({});
    }
  });
});

describe('mapSize: what a model cannot produce is a 400 naming the parameter', () => {
  const cases: Array<[ModelSpec, unknown]> = [
    [flash25, '4K'],
    [flash25, '2K'],
    [flash25, '512'],
    [flash25, '4096x4096'],
    [flash25, '2048x2048'],
    [pro, '512'],
    [nb21, '512'],
    [lite, '512'],
    [lite, '2K'],
    [lite, '4K'],
    [lite, '2048x2048'],
    [lite, '4096x4096'],
    [pro, '8K'],
    [pro, '3K'],
    [pro, '8192x8192'],
    [pro, ''],
    [pro, ' 1024x1024'],
    [pro, '1024x1024 '],
    [pro, '1024x'],
    [pro, 'x1024'],
    [pro, '0x1024'],
    [pro, '1024x0'],
    [pro, '1024*1024'],
    [pro, '-1x5'],
    [pro, '1.5x2'],
    [pro, '1024x1024x1'],
    [pro, '100000x100000'],
    [pro, 'AUTO'],
    [pro, 'large'],
    [flash31, '16:9'],
  ];
  for (const [m, size] of cases) {
    it(`refuses size ${JSON.stringify(size)} on ${m.id}`, () => {
      const e = refusal(() => mapSize(m, { size }));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.details.param).toBe('size');
      expect(e.message).toContain(`Invalid value: '${String(size)}'`);
    });
  }
  it("lists 2.5 Flash's supported sizes without the ones it lacks", () => {
    const e = refusal(() => mapSize(flash25, { size: '4K' }));
    expect(e.message).toContain("Supported values are: 'auto', '1K', or 'WIDTHxHEIGHT'");
    expect(e.message).toContain('1024x1024');
    const supported = e.message.slice(e.message.indexOf('Supported'));
    expect(supported).not.toContain("'4K'");
    expect(supported).not.toContain("'2K'");
  });
  it("lists Lite's one size without the ones it lacks", () => {
    const e = refusal(() => mapSize(lite, { size: '2K' }));
    const supported = e.message.slice(e.message.indexOf('Supported'));
    expect(supported).toContain("Supported values are: 'auto', '1K', or 'WIDTHxHEIGHT'");
    expect(supported).toContain('1584x672');
    expect(supported).not.toContain("'2K'");
    expect(supported).not.toContain("'512'");
  });
  it("lists 2.1's named sizes without 512", () => {
    const e = refusal(() => mapSize(nb21, { size: '512' }));
    expect(e.message).toContain("Supported values are: 'auto', '1K', '2K', '4K', or");
  });
  it("lists Pro's named sizes and largest outputs", () => {
    const e = refusal(() => mapSize(pro, { size: '512' }));
    expect(e.message).toContain("'auto', '1K', '2K', '4K'");
    expect(e.message).toContain('6336x2688');
  });
  for (const size of [1024, true, { w: 1 }, ['1K']]) {
    it(`refuses a ${Array.isArray(size) ? 'array' : typeof size} size as a wrong type`, () => {
      const e = refusal(() => mapSize(pro, { size }));
      expect(e.details.param).toBe('size');
      expect(e.message).toMatch(/^Invalid type for 'size'/);
    });
  }
});

describe('mapSize: aspect_ratio', () => {
  it('passes a ratio the model supports', () => {
    expect(mapSize(pro, { aspect_ratio: '16:9' })).toEqual({ aspectRatio: '16:9' });
    expect(mapSize(flash31, { aspect_ratio: '4:1' })).toEqual({ aspectRatio: '4:1' });
    expect(mapSize(nb21, { aspect_ratio: '1:8' })).toEqual({ aspectRatio: '1:8' });
    expect(mapSize(lite, { aspect_ratio: '21:9' })).toEqual({ aspectRatio: '21:9' });
    expect(mapSize(flash25, { aspect_ratio: '21:9' })).toEqual({ aspectRatio: '21:9' });
  });
  it('treats auto as unset', () => {
    expect(mapSize(pro, { aspect_ratio: 'auto', size: '2K' })).toEqual({ imageSize: '2K' });
  });
  const refused: Array<[ModelSpec, unknown]> = [
    [pro, '4:1'],
    [lite, '4:1'],
    [lite, '8:1'],
    [flash25, '1:8'],
    [pro, '16:10'],
    [pro, '16/9'],
    [pro, ''],
    [pro, 1.78],
  ];
  for (const [m, ratio] of refused) {
    it(`refuses aspect_ratio ${JSON.stringify(ratio)} on ${m.id}`, () => {
      const e = refusal(() => mapSize(m, { aspect_ratio: ratio }));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.details.param).toBe('aspect_ratio');
    });
  }
  it("lists the model's ratios when refusing one", () => {
    const e = refusal(() => mapSize(pro, { aspect_ratio: '4:1' }));
    expect(e.message).toContain("'21:9'");
    expect(e.message).not.toContain("'8:1'");
  });
  it('combines with a named size', () => {
    expect(mapSize(pro, { aspect_ratio: '16:9', size: '4K' })).toEqual({ aspectRatio: '16:9', imageSize: '4K' });
  });
  it("wins over a WxH's ratio, the WxH then choosing only the size against that ratio's pixels", () => {
    expect(mapSize(pro, { aspect_ratio: '16:9', size: '1024x1024' })).toEqual({ aspectRatio: '16:9', imageSize: '1K' });
    expect(mapSize(pro, { aspect_ratio: '1:1', size: '1376x768' })).toEqual({ aspectRatio: '1:1', imageSize: '1K' });
    expect(mapSize(pro, { aspect_ratio: '1:1', size: '3000x1000' })).toEqual({ aspectRatio: '1:1', imageSize: '2K' });
    expect(mapSize(flash25, { aspect_ratio: '21:9', size: '1400x1400' })).toEqual({ aspectRatio: '21:9' });
    expect(refusal(() => mapSize(flash25, { aspect_ratio: '1:1', size: '2048x1536' })).details.param).toBe('size');
  });
});
