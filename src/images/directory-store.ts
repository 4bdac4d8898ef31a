import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IMAGE_ID, type HostedImageStore, type StoredImage } from './hosted-image-store.js';

const KEY_FILE = '.signing-key';

interface Meta {
  contentType: string;
  expiresAtMs: number;
}

/**
 * Images as files: `<id>.img` and its `<id>.json` (type and expiry), each written to a temp name
 * and renamed, so a reader never sees half an image. The signing key is a file in the same
 * folder (mode 0600), so a restart keeps every URL valid.
 */
export class DirectoryImageStore implements HostedImageStore {
  readonly description: string;
  readonly #dir: string;
  #ready: Promise<void> | undefined;
  #key: Promise<Buffer> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
    this.description = `directory ${dir}`;
  }

  #ensure(): Promise<void> {
    this.#ready ??= mkdir(this.#dir, { recursive: true, mode: 0o700 }).then(() => {});
    return this.#ready;
  }

  #path(id: string, ext: 'img' | 'json'): string {
    if (!IMAGE_ID.test(id)) throw new Error(`not an image id: ${id}`);
    return join(this.#dir, `${id}.${ext}`);
  }

  async #atomicWrite(path: string, data: Buffer | string): Promise<void> {
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, path);
  }

  async put(id: string, image: StoredImage): Promise<void> {
    await this.#ensure();
    const meta: Meta = { contentType: image.contentType, expiresAtMs: image.expiresAtMs };
    // The image first: a metadata file always names a whole image.
    await this.#atomicWrite(this.#path(id, 'img'), image.bytes);
    await this.#atomicWrite(this.#path(id, 'json'), JSON.stringify(meta));
  }

  async get(id: string): Promise<StoredImage | undefined> {
    if (!IMAGE_ID.test(id)) return undefined;
    try {
      const meta = JSON.parse(await readFile(this.#path(id, 'json'), 'utf8')) as Meta;
      const bytes = await readFile(this.#path(id, 'img'));
      return { bytes, contentType: meta.contentType, expiresAtMs: meta.expiresAtMs };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async delete(id: string): Promise<void> {
    if (!IMAGE_ID.test(id)) return;
    // Metadata first: without it the image is not served, whatever happens next.
    await rm(this.#path(id, 'json'), { force: true });
    await rm(this.#path(id, 'img'), { force: true });
  }

  async sweep(nowMs: number): Promise<number> {
    let removed = 0;
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (e) {
      // Never written to: nothing to sweep, and no folder made for nothing.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    const present = new Set(names);
    for (const name of names) {
      const id = name.endsWith('.json') ? name.slice(0, -5) : undefined;
      if (id === undefined || !IMAGE_ID.test(id)) continue;
      let meta: Meta | undefined;
      try {
        meta = JSON.parse(await readFile(join(this.#dir, name), 'utf8')) as Meta;
      } catch {
        meta = undefined;
      }
      if (meta && meta.expiresAtMs > nowMs) continue;
      await this.delete(id);
      removed++;
    }
    // An image whose metadata never got written (a crash between the two renames) is never served: remove it.
    for (const name of names) {
      const id = name.endsWith('.img') ? name.slice(0, -4) : undefined;
      if (id !== undefined && IMAGE_ID.test(id) && !present.has(`${id}.json`)) await rm(join(this.#dir, name), { force: true });
    }
    return removed;
  }

  signingKey(): Promise<Buffer> {
    this.#key ??= (async () => {
      await this.#ensure();
      const path = join(this.#dir, KEY_FILE);
      try {
        // 'wx': the first instance (or start) makes it; every later one reads the same key.
        const handle = await open(path, 'wx', 0o600);
        try {
          await handle.writeFile(randomBytes(32));
        } finally {
          await handle.close();
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const key = await readFile(path);
      if (key.length < 32) throw new Error(`${path} holds ${key.length} bytes; a signing key needs 32`);
      return key;
    })();
    this.#key.catch(() => {
      this.#key = undefined;
    });
    return this.#key;
  }

  async close(): Promise<void> {}
}
