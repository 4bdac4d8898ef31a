import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { loadModelTable } from '../../src/models/model-table.js';
import { lifecycleHeaders, ModelResolver } from '../../src/models/resolver.js';

const table = loadModelTable();
const at = (iso: string) => Date.parse(iso);
/** The day these tests were written: every preview id and 2.5 Flash Image are shut down. */
const NOW = at('2026-11-28T12:00:00Z');
const clockAt = (ms: number) => ({ nowMs: () => ms });

describe('model names, today (reference/models-2026-11.md §7)', () => {
  const models = new ModelResolver({ table, aliases: { 'Poster-Model': 'gemini-3-pro-image' }, clock: clockAt(NOW) });

  it.each([
    ['nano-banana-pro', 'gemini-3-pro-image'],
    ['nano-banana-2', 'gemini-nano-banana-2.1'],
    ['NANO-BANANA-2.1', 'gemini-nano-banana-2.1'],
    ['nano-banana-2-lite', 'gemini-3.1-flash-lite-image'],
    ['nano-banana', 'gemini-3.1-flash-lite-image'],
    ['gemini-3-pro-image', 'gemini-3-pro-image'],
    ['models/gemini-3-pro-image', 'gemini-3-pro-image'],
    ['google/gemini-nano-banana-2.1', 'gemini-nano-banana-2.1'],
    ['models/nano-banana-2', 'gemini-nano-banana-2.1'],
    ['poster-model', 'gemini-3-pro-image'],
    // Deprecated but not shut down: served as asked.
    ['gemini-3.1-flash-image', 'gemini-3.1-flash-image'],
    // Shut down: served by their replacements.
    ['gemini-3-pro-image-preview', 'gemini-3-pro-image'],
    ['gemini-3.1-flash-image-preview', 'gemini-nano-banana-2.1'],
    ['gemini-2.5-flash-image', 'gemini-3.1-flash-lite-image'],
    // A chain: 2.5 preview -> 2.5 (shut down too) -> Lite.
    ['models/gemini-2.5-flash-image-preview', 'gemini-3.1-flash-lite-image'],
  ])('sends %s to %s', (name, id) => {
    expect(models.resolve(name)?.id).toBe(id);
  });

  it.each(['dall-e-3', 'gemini-2.5-flash', 'models/', '', 'nano-banana-3'])('does not serve %s', (name) => {
    expect(models.resolve(name)).toBeUndefined();
  });

  it('lists the models not shut down, then every alias', () => {
    expect(models.servedNames()).toEqual([
      'gemini-3-pro-image',
      'gemini-nano-banana-2.1',
      'gemini-3.1-flash-lite-image',
      'gemini-3.1-flash-image',
      'nano-banana',
      'nano-banana-2',
      'nano-banana-2-lite',
      'nano-banana-2.1',
      'nano-banana-pro',
      'nano-banana-pro-preview',
      'poster-model',
    ]);
  });

  it('lets a config alias re-point a table alias', () => {
    const repointed = new ModelResolver({ table, aliases: { 'nano-banana': 'gemini-nano-banana-2.1' }, clock: clockAt(NOW) });
    expect(repointed.resolve('nano-banana')?.id).toBe('gemini-nano-banana-2.1');
  });
});

describe('the shutdown instant, on both sides, without a restart', () => {
  let nowMs = at('2026-06-24T23:59:59.999Z');
  const models = new ModelResolver({ table, clock: { nowMs: () => nowMs } });

  it('serves a preview as asked until its shutdown instant, with Deprecation and Sunset, then its replacement', () => {
    nowMs = at('2026-06-24T23:59:59.999Z');
    const before = models.route('gemini-3-pro-image-preview')!;
    expect(before).toMatchObject({ served: { id: 'gemini-3-pro-image-preview' }, redirected: false });
    expect(lifecycleHeaders(before, nowMs)).toEqual({
      deprecation: `@${at('2026-05-28T00:00:00Z') / 1000}`,
      sunset: 'Thu, 25 Jun 2026 00:00:00 GMT',
      link: '</v1beta/models/gemini-3-pro-image>; rel="successor-version"',
    });

    nowMs = at('2026-06-25T00:00:00Z');
    const after = models.route('gemini-3-pro-image-preview')!;
    expect(after).toMatchObject({ asked: { id: 'gemini-3-pro-image-preview' }, served: { id: 'gemini-3-pro-image' }, redirected: true });
    expect(lifecycleHeaders(after, nowMs)['link']).toBe('</v1beta/models/gemini-3-pro-image>; rel="successor-version"');
    expect(models.servedNames()).not.toContain('gemini-3-pro-image-preview');
  });

  it('follows a chain only as far as the first model still running at that instant', () => {
    // 2.5 preview is shut down on 2026-01-15; 2.5 itself runs until 2026-10-02.
    nowMs = at('2026-03-01T00:00:00Z');
    expect(models.resolve('gemini-2.5-flash-image-preview')?.id).toBe('gemini-2.5-flash-image');
    nowMs = at('2026-10-02T00:00:00Z');
    expect(models.resolve('gemini-2.5-flash-image-preview')?.id).toBe('gemini-3.1-flash-lite-image');
  });

  it('marks a deprecated model served as asked with Deprecation and a Link to its successor, no Sunset while none is known', () => {
    nowMs = NOW;
    const route = models.route('gemini-3.1-flash-image')!;
    expect(route.redirected).toBe(false);
    expect(lifecycleHeaders(route, nowMs)).toEqual({
      deprecation: `@${at('2026-10-06T00:00:00Z') / 1000}`,
      link: '</v1beta/models/gemini-nano-banana-2.1>; rel="successor-version"',
    });
    expect(lifecycleHeaders(models.route('nano-banana-pro')!, nowMs)).toEqual({});
  });
});

describe('models.retired: refuse', () => {
  const models = new ModelResolver({ table, retired: 'refuse', clock: clockAt(NOW) });

  it('answers a retired model with a 404 that names its replacement', () => {
    let err: unknown;
    try {
      models.route('gemini-3-pro-image-preview');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('MODEL_NOT_FOUND');
    expect((err as GatewayError).message).toBe('models/gemini-3-pro-image-preview was shut down by Google on 2026-06-25; use gemini-3-pro-image instead.');
  });

  it('still serves models that are only deprecated', () => {
    expect(models.resolve('gemini-3.1-flash-image')?.id).toBe('gemini-3.1-flash-image');
  });
});
