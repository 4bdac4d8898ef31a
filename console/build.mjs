// `npm run build`, after tsc has compiled console/src into dist/console: copies the page, its
// stylesheet and icon, and uPlot (ES module and stylesheet) from node_modules beside them, so
// the gateway serves everything the console loads from dist/console and nothing from elsewhere.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'console');
const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

mkdirSync(join(out, 'vendor'), { recursive: true });
for (const file of ['index.html', 'console.css', 'favicon.svg']) copyFileSync(join(here, file), join(out, file));
copyFileSync(join(uplot, 'uPlot.esm.js'), join(out, 'vendor', 'uPlot.esm.js'));
copyFileSync(join(uplot, 'uPlot.min.css'), join(out, 'vendor', 'uPlot.min.css'));
if (!existsSync(join(out, 'main.js'))) throw new Error(`console build: ${join(out, 'main.js')} is missing (tsc -p console/tsconfig.json first)`);
console.log(`console: ${readdirSync(out).length} entries in ${out}`);
