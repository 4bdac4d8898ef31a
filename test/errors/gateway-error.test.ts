import { describe, expect, it } from 'vitest';
import { ERROR_CODES, GatewayError } from '../../src/errors/gateway-error.js';
import { renderGoogleError } from '../../src/faces/native/errors.js';
import { renderOpenAIError } from '../../src/faces/openai/errors.js';
import { renderAdminError } from '../../src/admin/errors.js';

describe('error codes', () => {
  it('are unique upper-snake strings', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) expect(code).toMatch(/^[A-Z]+(_[A-Z]+)*$/);
  });

  it.each(ERROR_CODES)('%s renders on every face with a non-500 status unless internal', (code) => {
    const err = new GatewayError(code, 'message');
    for (const render of [renderGoogleError, renderOpenAIError, renderAdminError]) {
      const r = render(err);
      expect(r.status).toBeGreaterThanOrEqual(400);
      if (code !== 'INTERNAL') expect(r.status).not.toBe(500);
    }
  });
});
