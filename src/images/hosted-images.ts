import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../time/clock.js';
import type { HostedImageStore, StoredImage } from './hosted-image-store.js';

/** Where hosted images are served: `${HOSTED_IMAGE_PATH}/<id>.<ext>?se=<expiry>&sig=<signature>`. */
export const HOSTED_IMAGE_PATH = '/v1/images/hosted';

const EXTENSION: Readonly<Record<string, string>> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };
const FILE = /^([A-Za-z0-9_-]{32})\.(png|jpg|webp|img)$/;

export interface HostedImagesOptions {
  store: HostedImageStore;
  clock: Clock;
  /** How long a URL is valid: OpenAI's 60 minutes by default. */
  ttlMs: number;
  /** The operator's key (hostedImages.signingKey); else the store's own. */
  signingKey?: Buffer;
  /** The gateway's public origin (hostedImages.baseUrl); else each request's own. */
  baseUrl?: string;
  logger: Logger;
  /** How often expired images are deleted (default 60 s). */
  sweepIntervalMs?: number;
}

/**
 * `response_format: "url"` (#14.4): an image is stored under a random 192-bit id, and its URL
 * carries its expiry and an HMAC-SHA256 of both, so a URL can be neither guessed nor extended.
 * Anyone holding a URL may fetch it until it expires (as OpenAI's are); expired images are
 * deleted by a sweep every minute, and at once when an expired URL is asked for.
 */
export class HostedImages {
  readonly #o: HostedImagesOptions;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;

  constructor(opts: HostedImagesOptions) {
    this.#o = opts;
  }

  get description(): string {
    return this.#o.store.description;
  }

  async #key(): Promise<Buffer> {
    return this.#o.signingKey ?? (await this.#o.store.signingKey());
  }

  #sign(key: Buffer, file: string, expiresSec: number): string {
    return createHmac('sha256', key).update(`${file}\n${expiresSec}`).digest('base64url');
  }

  /** Stores an image and returns its signed URL on `origin` (or the configured base URL). */
  async save(bytes: Buffer, contentType: string, origin: string): Promise<{ url: string; expiresAtMs: number }> {
    const id = randomBytes(24).toString('base64url');
    const file = `${id}.${EXTENSION[contentType] ?? 'img'}`;
    // Whole seconds: the URL says when, and the store agrees to the millisecond.
    const expiresSec = Math.floor((this.#o.clock.nowMs() + this.#o.ttlMs) / 1000);
    const expiresAtMs = expiresSec * 1000;
    const key = await this.#key();
    await this.#o.store.put(id, { bytes, contentType, expiresAtMs });
    const base = (this.#o.baseUrl ?? origin).replace(/\/+$/, '');
    return { url: `${base}${HOSTED_IMAGE_PATH}/${file}?se=${expiresSec}&sig=${this.#sign(key, file, expiresSec)}`, expiresAtMs };
  }

  /** The image a URL names, if its signature holds and it has not expired; undefined otherwise (no oracle: one answer). */
  async open(file: string, query: { se?: unknown; sig?: unknown }): Promise<StoredImage | undefined> {
    const m = FILE.exec(file);
    if (!m || typeof query.se !== 'string' || typeof query.sig !== 'string' || !/^\d{1,12}$/.test(query.se)) return undefined;
    const expiresSec = Number(query.se);
    const expected = Buffer.from(this.#sign(await this.#key(), file, expiresSec));
    const given = Buffer.from(query.sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const nowMs = this.#o.clock.nowMs();
    const id = m[1]!;
    if (expiresSec * 1000 <= nowMs) {
      await this.#o.store.delete(id).catch(() => {});
      return undefined;
    }
    const image = await this.#o.store.get(id);
    if (!image) return undefined;
    if (image.expiresAtMs <= nowMs) {
      await this.#o.store.delete(id).catch(() => {});
      return undefined;
    }
    return image;
  }

  /** Deletes every expired image now; returns how many. */
  sweep(): Promise<number> {
    this.#sweeping ??= this.#o.store.sweep(this.#o.clock.nowMs()).finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  /** Sweeps every `sweepIntervalMs` until stop(). */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.sweep().catch((err: unknown) => this.#o.logger.warn({ err: (err as Error).message }, 'hosted images: the sweep of expired images failed'));
    }, this.#o.sweepIntervalMs ?? 60_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping?.catch(() => {});
    await this.#o.store.close();
  }
}
