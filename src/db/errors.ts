/**
 * Typed storage errors with stable string codes (undici's `UND_ERR_*` style), so the admin API
 * can map them to 409 / 404 without matching driver messages of SQLite or PostgreSQL.
 */
export class DuplicateError extends Error {
  readonly code = 'DB_DUPLICATE';
  readonly entity: 'tenant' | 'key';
  readonly id: string;

  constructor(entity: 'tenant' | 'key', id: string) {
    super(`${entity} ${id} already exists`);
    this.name = 'DuplicateError';
    this.entity = entity;
    this.id = id;
  }
}

export class NotFoundError extends Error {
  readonly code = 'DB_NOT_FOUND';
  readonly entity: 'tenant' | 'key';
  readonly id: string;

  constructor(entity: 'tenant' | 'key', id: string) {
    super(`${entity} ${id} does not exist`);
    this.name = 'NotFoundError';
    this.entity = entity;
    this.id = id;
  }
}

/**
 * The database could not do what was asked: unreachable, refusing connections, its schema gone.
 * Rendered as a 503 by every face (the caller may retry); the cause is kept for the log.
 */
export class DatabaseUnavailableError extends Error {
  readonly code = 'DB_UNAVAILABLE';

  constructor(operation: string, cause: unknown) {
    super(`database unavailable during ${operation}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'DatabaseUnavailableError';
  }
}
