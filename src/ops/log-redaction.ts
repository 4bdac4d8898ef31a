/**
 * Paths pino censors in every log line. The gateway never logs headers or keys on purpose;
 * these catch an accidental `{ req }`, `{ headers }` or config object.
 */
export const REDACT_PATHS = [
  'apiKey',
  '*.apiKey',
  'projects[*].apiKey',
  'key',
  '*.key',
  'req.headers.authorization',
  'req.headers["x-goog-api-key"]',
  'headers.authorization',
  'headers["x-goog-api-key"]',
  '*.headers.authorization',
  '*.headers["x-goog-api-key"]',
  'req.query.key',
];
