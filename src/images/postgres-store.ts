import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { IMAGE_ID, type HostedImageStore, type StoredImage } from './hosted-image-store.js';

/**
 * Images in PostgreSQL, so every instance on the same database serves every instance's URLs.
 * Its two tables are its own, created on first use (IF NOT EXISTS), outside the ledger's
 * versioned migrations: they hold nothing but short-lived images and one key, and a gateway
 * that never answers with URLs never creates them.
 */
export class PostgresImageStore implements HostedImageStore {
  readonly description = 'PostgreSQL (DATABASE_URL)';
  readonly #pool: pg.Pool;
  #ready: Promise<void> | undefined;
  #key: Promise<Buffer> | undefined;

  constructor(url: string, opts: { max?: number } = {}) {
    this.#pool = new pg.Pool({ connectionString: url, max: opts.max ?? 4 });
    // An idle client's error (the server restarting) must not crash the process.
    this.#pool.on('error', () => {});
  }

  #ensure(): Promise<void> {
    this.#ready ??= this.#pool
      .query(
        `CREATE TABLE IF NOT EXISTS nanogate_hosted_images (
           id text PRIMARY KEY,
           content_type text NOT NULL,
           expires_at_ms bigint NOT NULL,
           data bytea NOT NULL);
         CREATE INDEX IF NOT EXISTS nanogate_hosted_images_expiry ON nanogate_hosted_images (expires_at_ms);
         CREATE TABLE IF NOT EXISTS nanogate_hosted_image_key (id int PRIMARY KEY CHECK (id = 1), key bytea NOT NULL);`,
      )
      .then(() => {});
    this.#ready.catch(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  async put(id: string, image: StoredImage): Promise<void> {
    if (!IMAGE_ID.test(id)) throw new Error(`not an image id: ${id}`);
    await this.#ensure();
    await this.#pool.query('INSERT INTO nanogate_hosted_images (id, content_type, expires_at_ms, data) VALUES ($1, $2, $3, $4)', [
      id,
      image.contentType,
      image.expiresAtMs,
      image.bytes,
    ]);
  }

  async get(id: string): Promise<StoredImage | undefined> {
    if (!IMAGE_ID.test(id)) return undefined;
    await this.#ensure();
    const r = await this.#pool.query<{ content_type: string; expires_at_ms: string; data: Buffer }>(
      'SELECT content_type, expires_at_ms, data FROM nanogate_hosted_images WHERE id = $1',
      [id],
    );
    const row = r.rows[0];
    return row ? { bytes: row.data, contentType: row.content_type, expiresAtMs: Number(row.expires_at_ms) } : undefined;
  }

  async delete(id: string): Promise<void> {
    await this.#ensure();
    await this.#pool.query('DELETE FROM nanogate_hosted_images WHERE id = $1', [id]);
  }

  async sweep(nowMs: number): Promise<number> {
    await this.#ensure();
    const r = await this.#pool.query('DELETE FROM nanogate_hosted_images WHERE expires_at_ms <= $1', [nowMs]);
    return r.rowCount ?? 0;
  }

  signingKey(): Promise<Buffer> {
    this.#key ??= (async () => {
      await this.#ensure();
      // The first instance's key wins; every instance then reads that one.
      await this.#pool.query('INSERT INTO nanogate_hosted_image_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [randomBytes(32)]);
      const r = await this.#pool.query<{ key: Buffer }>('SELECT key FROM nanogate_hosted_image_key WHERE id = 1');
      return r.rows[0]!.key;
    })();
    this.#key.catch(() => {
      this.#key = undefined;
    });
    return this.#key;
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
