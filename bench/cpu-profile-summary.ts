/**
 * Where a gateway process spent its CPU, from a V8 .cpuprofile (what `npm run bench -- --profile
 * DIR` leaves behind for each gateway process): self time by function and by module, and total
 * (inclusive) time of the gateway's own functions. Idle samples are left out, and so are samples
 * taken while loading modules (start-up, not serving), which are reported as one figure.
 *
 *   node dist-bench/bench/cpu-profile-summary.js FILE.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** node_modules/<package>, the file under dist/, or node's internal area. */
function moduleOf(url: string): string {
  if (url === '') return '(native / V8)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/dist\/(.+)$/.exec(url);
  if (own) return `dist/${own[1]!}`;
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  return url;
}

function nameOf(node: ProfileNode): string {
  const frame = node.callFrame;
  return `${frame.functionName || '(anonymous)'}  ${moduleOf(frame.url)}:${frame.lineNumber + 1}`;
}

const isModuleLoading = (node: ProfileNode) => node.callFrame.url.startsWith('node:internal/modules/') || node.callFrame.functionName === 'compileForInternalLoader';

function summarize(profile: CpuProfile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const stackOf = (id: number): ProfileNode[] => {
    const stack: ProfileNode[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at)!);
    return stack;
  };

  const self = new Map<string, number>();
  const byModule = new Map<string, number>();
  const inclusiveOwn = new Map<string, number>();
  let busyUs = 0;
  let loadingUs = 0;
  const add = (m: Map<string, number>, key: string, us: number) => m.set(key, (m.get(key) ?? 0) + us);
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const leaf = byId.get(id)!;
    if (leaf.callFrame.functionName === '(idle)') return;
    const stack = stackOf(id);
    if (stack.some(isModuleLoading)) {
      loadingUs += us;
      return;
    }
    busyUs += us;
    add(self, nameOf(leaf), us);
    add(byModule, moduleOf(leaf.callFrame.url), us);
    // Each function once per sample, however deep the recursion.
    for (const name of new Set(stack.filter((n) => n.callFrame.url.includes('/dist/')).map(nameOf))) add(inclusiveOwn, name, us);
  });

  const list = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => `${((100 * us) / busyUs).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`)
      .join('\n');
  return [
    `busy ${(busyUs / 1000).toFixed(0)} ms serving (idle left out; ${(loadingUs / 1000).toFixed(0)} ms loading modules, left out)`,
    '',
    'self time by function:',
    list(self, top),
    '',
    'self time by module:',
    list(byModule, 15),
    '',
    "total time (self + callees) of the gateway's own functions:",
    list(inclusiveOwn, top),
  ].join('\n');
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: cpu-profile-summary FILE.cpuprofile [top]\n');
  process.exit(2);
}
process.stdout.write(`${summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(topArg ?? 25))}\n`);
