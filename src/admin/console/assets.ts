/**
 * The console's static files: what `npm run build` put in dist/console (compiled TypeScript,
 * the stylesheet, uPlot), read once at start and served from memory. A request names a file
 * by its exact relative path; nothing is looked up on disk per request, so no path it sends
 * can reach outside the folder.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ConsoleAsset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
};

/**
 * dist/console of this package. src/admin/console and dist/admin/console are both three
 * levels under the package root, so the tests (running the sources) and production (running
 * dist) find the same built files.
 */
export const BUILT_CONSOLE_DIR = fileURLToPath(new URL('../../../dist/console/', import.meta.url));

/** Every servable file under `dir` by its relative path ('main.js', 'pages/spend.js'); empty when the folder is missing. */
export function loadConsoleAssets(dir: string): ReadonlyMap<string, ConsoleAsset> {
  const assets = new Map<string, ConsoleAsset>();
  let exists = false;
  try {
    exists = statSync(dir).isDirectory();
  } catch {
    exists = false;
  }
  if (!exists) return assets;
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const contentType = CONTENT_TYPES[extname(entry.name)];
        // Source maps and declaration files stay out: only what the page loads is served.
        if (!contentType) continue;
        const body = readFileSync(path);
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
        assets.set(relative(dir, path).split(sep).join('/'), { body, contentType, etag });
      }
    }
  };
  walk(dir);
  return assets;
}
