/**
 * The floor: the least a proxy can do (undici in, undici out, streamed both ways, no auth, no
 * parsing). On a 2-core machine the load generator, the mock and any proxy share the CPUs, so
 * the gateway is judged against this process measured in the same run, not against direct.
 *
 *   UPSTREAM_URL=http://127.0.0.1:9000 PORT=0 node dist-bench/bench/floor-proxy.js
 * Prints one JSON line {"url": ...} once listening.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const upstream = process.env.UPSTREAM_URL ?? process.argv[2];
if (!upstream) throw new Error('floor-proxy: set UPSTREAM_URL');
const pool = new Pool(upstream, { connections: 256, keepAliveTimeout: 30_000 });
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'proxy-authenticate', 'proxy-authorization']);

function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

const server = createServer((req, res) => {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  // stream() writes the answer straight into `res`, with no Readable in between: measured cheaper
  // than request() and pipeline() (0.23 against 0.34 ms of CPU per tiny answer), and the floor
  // must be the least a proxy can do.
  pool
    .stream({ method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers: endToEnd(req.headers), body: hasBody ? req : null }, ({ statusCode, headers }) => {
      res.writeHead(statusCode, endToEnd(headers));
      return res;
    })
    .catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`floor-proxy: ${e instanceof Error ? e.message : String(e)}`);
    });
});
server.keepAliveTimeout = 30_000;
server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.close().then(() => process.exit(0));
});
