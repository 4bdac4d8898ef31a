import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from './free-port.js';

export interface RunningRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.setTimeout(500);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      sock.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    sock.on('error', () => resolve(false));
    sock.on('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

async function waitForPong(port: number, child: ChildProcess, spawnError: () => Error | undefined): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const failed = spawnError();
    if (failed) throw new Error(`redis-server could not be started: ${failed.message}`, { cause: failed });
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    if (await pingOnce(port)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('redis-server did not answer PING');
}

/** Starts a private, non-persistent redis-server on a free port (or `port`: a restart where it was). */
export async function startRedisServer(extraArgs: string[] = [], opts: { port?: number } = {}): Promise<RunningRedis> {
  const port = opts.port ?? (await freePort());
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs],
    { stdio: 'ignore' },
  );
  // Without a listener a missing binary (ENOENT) would be an uncaught exception, not a reason.
  let spawnError: Error | undefined;
  child.once('error', (e) => {
    spawnError = e;
  });
  await waitForPong(port, child, () => spawnError);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
