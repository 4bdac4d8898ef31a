import { describe, expect, it } from 'vitest';
import { ModelResolver } from '../../src/models/resolver.js';

describe('model names', () => {
  const models = new ModelResolver({ 'Poster-Model': 'gemini-3-pro-image-preview', 'nano-banana-pro': 'gemini-3-pro-image' });

  it.each([
    ['nano-banana-2', 'gemini-3.1-flash-image-preview'],
    ['NANO-BANANA', 'gemini-2.5-flash-image'],
    ['gemini-3-pro-image-preview', 'gemini-3-pro-image-preview'],
    ['models/gemini-2.5-flash-image', 'gemini-2.5-flash-image'],
    ['google/gemini-3.1-flash-image-preview', 'gemini-3.1-flash-image-preview'],
    ['models/nano-banana-2', 'gemini-3.1-flash-image-preview'],
    ['poster-model', 'gemini-3-pro-image-preview'],
    ['POSTER-MODEL', 'gemini-3-pro-image-preview'],
    // A config alias may re-point a built-in one, e.g. to a GA id.
    ['nano-banana-pro', 'gemini-3-pro-image'],
    ['gemini-3-pro-image', 'gemini-3-pro-image'],
  ])('resolves %s to %s', (name, id) => {
    expect(models.resolve(name)?.id).toBe(id);
  });

  it.each(['dall-e-3', 'gemini-2.5-flash', 'models/', '', 'nano-banana-3'])('does not serve %s', (name) => {
    expect(models.resolve(name)).toBeUndefined();
  });

  it('lists canonical ids then aliases', () => {
    expect(models.servedNames()).toEqual([
      'gemini-3-pro-image-preview',
      'gemini-3.1-flash-image-preview',
      'gemini-2.5-flash-image',
      'gemini-3-pro-image',
      'gemini-3.1-flash-image',
      'nano-banana',
      'nano-banana-2',
      'nano-banana-pro',
      'poster-model',
    ]);
  });

  it('shares one spec between an alias and its canonical model, so pricing and quota agree', () => {
    expect(models.resolve('poster-model')).toBe(models.resolve('gemini-3-pro-image-preview'));
  });
});
