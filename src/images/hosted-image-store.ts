/**
 * Where images answered with `response_format: "url"` wait until their URL expires (#14.4).
 * A directory serves one instance (and every instance that mounts the same folder); PostgreSQL
 * serves several instances that must answer each other's URLs. Implementations live beside
 * this interface's factory in src/gateway.ts, not here (STYLE: an interface module does not
 * import its implementations).
 */
export interface StoredImage {
  bytes: Buffer;
  contentType: string;
  expiresAtMs: number;
}

export interface HostedImageStore {
  /** Where it keeps images, for the start line ("directory data/images", "PostgreSQL"). */
  readonly description: string;
  put(id: string, image: StoredImage): Promise<void>;
  /** The image, or undefined when there is none (expired ones may still be returned: the caller checks). */
  get(id: string): Promise<StoredImage | undefined>;
  delete(id: string): Promise<void>;
  /** Deletes every image expired at `nowMs`; returns how many. */
  sweep(nowMs: number): Promise<number>;
  /**
   * The key URLs are signed with, the same for every instance sharing the store: made once
   * (random, 32 bytes) and kept in the store, unless the operator configured one.
   */
  signingKey(): Promise<Buffer>;
  close(): Promise<void>;
}

/** Ids are 24 random bytes as base64url: 32 characters of [A-Za-z0-9_-]. */
export const IMAGE_ID = /^[A-Za-z0-9_-]{32}$/;
