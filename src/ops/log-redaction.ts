/**
 * Paths pino censors in every log line. The gateway never logs headers or keys on purpose;
 * these catch an accidental `{ req }`, `{ headers }` or config object. Exact paths only: a
 * wildcard makes pino walk every object it logs, which cost ~5% of a tiny request's CPU.
 * A top-level `key` is taken to be a secret: log anything else under a longer name
 * (`periodKey`, `keyId`), or it is censored too (#12: the budget period once was).
 */
export const REDACT_PATHS = [
  'apiKey',
  'key',
  'headers.authorization',
  'headers["x-goog-api-key"]',
  'req.headers.authorization',
  'req.headers["x-goog-api-key"]',
  'req.query.key',
  'config.projects[*].apiKey',
  'projects[*].apiKey',
];
