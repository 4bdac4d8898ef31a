/**
 * A real three-master Redis Cluster on free ports, private to one test file. Hash-tag
 * mistakes (CROSSSLOT) only show on a cluster, so the contract runs on one too.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/free-port.js';
import { startRedisServer, type RunningRedis } from '../support/redis-server.js';

export interface RunningCluster {
  nodes: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

function clusterInfo(port: number): string {
  return spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).stdout ?? '';
}

/** Starts the cluster, or returns the reason it could not (the caller skips loudly). */
export async function startRedisCluster(): Promise<RunningCluster | string> {
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-cluster-'));
  const servers: RunningRedis[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const busPort = await freePort();
      servers.push(
        await startRedisServer([
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${i}.conf`),
          '--cluster-port', String(busPort),
          '--dir', dir,
        ]),
      );
    }
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0) {
      await stop();
      return `redis-cli --cluster create failed: ${create.error?.message ?? (create.stderr || create.stdout)}`;
    }
    // Waiting for the cluster's own gossip to converge, not for time to pass.
    for (let i = 0; i < 400; i++) {
      if (servers.every((s) => clusterInfo(s.port).includes('cluster_state:ok'))) {
        return { nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })), stop };
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    await stop();
    return 'cluster_state never became ok';
  } catch (e) {
    await stop();
    return `could not start redis-server nodes: ${String(e)}`;
  }
}
