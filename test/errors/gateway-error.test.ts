import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_STATUS, GatewayError } from '../../src/errors/gateway-error.js';
import { renderGoogleError } from '../../src/faces/native/errors.js';
import { renderOpenAIError } from '../../src/faces/openai/errors.js';
import { renderAdminError } from '../../src/admin/errors.js';

describe('error codes', () => {
  it('are unique upper-snake strings', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) expect(code).toMatch(/^[A-Z]+(_[A-Z]+)*$/);
  });

  it('each have one HTTP status, in the one status table', () => {
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...ERROR_CODES].sort());
  });

  it.each(ERROR_CODES)('%s gets the same status on every face', (code) => {
    const err = new GatewayError(code, 'message');
    const statuses = [renderGoogleError, renderOpenAIError, renderAdminError].map((render) => render(err).status);
    expect(statuses).toEqual([ERROR_STATUS[code], ERROR_STATUS[code], ERROR_STATUS[code]]);
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
