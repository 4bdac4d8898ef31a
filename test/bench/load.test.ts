import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../bench/load.js';

describe('describeFailure', () => {
  it('gives the status and the start of the body, on one line', () => {
    expect(describeFailure(500, 70, 100, '{"status":"failure",\n  "message":"imageGenerate is not supported by google"}')).toBe(
      'HTTP 500: {"status":"failure", "message":"imageGenerate is not supported by google"}',
    );
    expect(describeFailure(404, 0, 100, '')).toBe('HTTP 404');
    expect(describeFailure(502, 300, 100, 'x'.repeat(300))).toHaveLength('HTTP 502: '.length + 160);
  });

  it('calls a 2xx answer below the minimum short, whatever it says', () => {
    expect(describeFailure(200, 412, 20_000_000, '{"id":"x"}')).toBe('short answer: 412 bytes, less than 20000000');
  });
});
