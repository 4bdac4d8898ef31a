/**
 * The README's examples for the OpenAI world (#14), run as written against a gateway on the mock
 * of Google: each block marked `<!-- readme-example -->` under "Image streaming" to "Responses",
 * curl ones with bash (pipefail: a null from jq or a failed decode fails them), TypeScript ones
 * imported as modules. Only the address and the key are changed.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { GOOGLE_KEY, TENANT_KEY } from '../support/gateway-harness.js';
import { startWorld, type World } from '../support/openai-world.js';

const readme = readFileSync('README.md', 'utf8');
const section = readme.slice(readme.indexOf('### Image streaming'), readme.indexOf('### OpenAI model names'));
const examples = [...section.matchAll(/<!-- readme-example -->\n```(sh|ts)\n([\s\S]*?)```/g)].map((m, i) => ({ i, lang: m[1]!, code: m[2]! }));
const tools = ['curl', 'jq', 'base64'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);

let mock: MockGoogle;
let gw: World;
let cwd: string;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY], interimImages: 2 });
  gw = await startWorld({ upstreamUrl: mock.url });
  cwd = mkdtempSync(join(tmpdir(), 'nanogate-readme-'));
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
  rmSync(cwd, { recursive: true, force: true });
});

const localize = (code: string) => code.replaceAll('http://localhost:8080', gw.url).replaceAll('nanogate-dev-key', TENANT_KEY);

describe("the README's OpenAI examples", () => {
  it('has the examples it tests', () => {
    expect(examples.filter((e) => e.lang === 'sh').length).toBeGreaterThanOrEqual(4);
    expect(examples.filter((e) => e.lang === 'ts').length).toBeGreaterThanOrEqual(4);
  });

  for (const { i, lang, code } of examples) {
    const first = code.split('\n').find((l) => l.trim() && !l.startsWith('import'))?.trim().slice(0, 70);
    if (lang === 'sh') {
      it.skipIf(!tools)(`runs curl example ${i}: ${first}`, async () => {
        // Asynchronously: the gateway answering it runs in this process.
        const r = await new Promise<{ status: number; stdout: string; stderr: string }>((done) => {
          execFile('bash', ['-c', `set -euo pipefail\n${localize(code)}`], { cwd, encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) =>
            done({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        const made = readdirSync(cwd).filter((f) => f.endsWith('.png'));
        for (const f of made) expect(readFileSync(join(cwd, f)).subarray(1, 4).toString('latin1')).toBe('PNG');
        expect(r.stdout.length + made.length).toBeGreaterThan(0);
        for (const f of made) unlinkSync(join(cwd, f));
      });
    } else {
      it(`runs TypeScript example ${i}: ${first}`, async () => {
        // Beside the tests, so its imports resolve from the project's node_modules.
        const file = resolve(`test/e2e/.readme-example-${process.pid}-${i}.ts`);
        writeFileSync(file, `${localize(code)}\nexport {};\n`);
        try {
          await import(file);
        } finally {
          unlinkSync(file);
        }
      });
    }
  }
});
