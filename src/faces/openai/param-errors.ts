import { GatewayError } from '../../errors/gateway-error.js';

/**
 * The OpenAI face's parameter errors, in OpenAI's phrasing (renderOpenAIError derives `code`
 * from it): one place for every request parser of the face.
 */

/** "an integer", "a string", "null", "an array", …: how OpenAI names a value's type. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

export function invalidParam(param: string, message: string): GatewayError {
  return new GatewayError('INVALID_ARGUMENT', message, { param });
}

export function missingParam(param: string): GatewayError {
  return invalidParam(param, `Missing required parameter: '${param}'.`);
}

export function wrongTypeParam(param: string, expected: string, value: unknown): GatewayError {
  return invalidParam(param, `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`);
}
