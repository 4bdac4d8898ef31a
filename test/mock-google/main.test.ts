import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { call, json, prompt } from './client.js';

/**
 * Runs main.ts with Node's own type stripping; the hook maps the `.js` import specifiers
 * (NodeNext style) to the `.ts` files beside them.
 */
const TS_RESOLVE_HOOK = `
export async function resolve(specifier, context, next) {
  try { return await next(specifier, context); }
  catch (err) {
    if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
    throw err;
  }
}`;
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(TS_RESOLVE_HOOK)}`)});`;

describe('main.ts', () => {
  it('prints its url, serves the configured image size, and exits 0 on SIGTERM', async () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, main, 'IMAGE_BYTES_2K=8000'], {
      env: { ...process.env, PORT: '0', GOOGLE_API_KEYS: 'bench-key' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const exitedEarly = once(child, 'exit').then(([code]) => {
        throw new Error(`main.ts exited with ${String(code)} before printing its url`);
      });
      const [line] = (await Promise.race([once(createInterface({ input: child.stdout }), 'line'), exitedEarly])) as [string];
      const { url } = JSON.parse(line) as { url: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const raw = await call(url, '/v1beta/models/gemini-3-pro-image:generateContent', {
        key: 'bench-key',
        body: prompt('x', { generationConfig: { imageConfig: { imageSize: '2K' } } }),
      });
      expect(raw.status).toBe(200);
      const data = (json(raw) as { candidates: Array<{ content: { parts: Array<{ inlineData?: { data: string } }> } }> }).candidates[0]?.content.parts.find((p) => p.inlineData)?.inlineData?.data;
      expect(data?.length).toBe(8000);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
