/**
 * #12.6: the Kubernetes manifests under deploy/ (and the Docker files beside them) hold
 * together with what the gateway serves. Each manifest is parsed and validated against the
 * Kubernetes API schemas (kubernetes-models: types, required fields, formats); then the
 * probes, ports, grace period, ConfigMap and Secret references are checked against the config
 * the pods read and against a gateway built from that config.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/schema.js';
import { createGateway, type Gateway } from '../../src/gateway.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const DEPLOY = join(REPO, 'deploy');
/** What the gateway itself may take to stop after SIGTERM besides the grace period: metering aborted calls (10 s) and the ledger flush (10 s). */
const SHUTDOWN_BEYOND_GRACE_MS = 20_000;

interface Manifest {
  file: string;
  object: { apiVersion: string; kind: string; metadata: { name: string } };
}

/** The kinds deploy/ uses, each with its schema-checked model. */
const MODELS: Record<string, (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': (d) => new Deployment(d),
  'v1/Service': (d) => new Service(d),
  'policy/v1/PodDisruptionBudget': (d) => new PodDisruptionBudget(d),
  'v1/Secret': (d) => new Secret(d),
  'v1/ConfigMap': (d) => new ConfigMap(d),
};

const kustomization = parseYaml(readFileSync(join(DEPLOY, 'kustomization.yaml'), 'utf8')) as {
  resources: string[];
  configMapGenerator: Array<{ name: string; files: string[] }>;
};

function manifestsIn(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(join(DEPLOY, file), 'utf8')).map((doc) => {
    expect(doc.errors, `${file}: YAML errors`).toEqual([]);
    return { file: `deploy/${file}`, object: doc.toJS() as Manifest['object'] };
  });
}

const applied = kustomization.resources.flatMap(manifestsIn);
const secretExample = manifestsIn('kubernetes/secret.example.yaml');
/** The ConfigMaps kustomize generates, as it would: one key per file, named after the file. */
const generated: Manifest[] = kustomization.configMapGenerator.map((g) => ({
  file: `deploy/kustomization.yaml (configMapGenerator ${g.name})`,
  object: {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: g.name },
    data: Object.fromEntries(g.files.map((f) => [f.split('/').pop()!, readFileSync(join(DEPLOY, f), 'utf8')])),
  } as Manifest['object'],
}));

const byKind = <T>(kind: string): T[] => applied.filter((m) => m.object.kind === kind).map((m) => m.object as T);
const deployment = byKind<IDeployment>('Deployment')[0]!;
const pod = deployment.spec!.template.spec!;
const container = pod.containers.find((c) => c.name === 'nanogate')!;
const secret = secretExample[0]!.object as unknown as ISecret;
const envValue = (name: string) => container.env?.find((e) => e.name === name);

/** The config file the pods read, with the environment the Secret and the Deployment give them. */
function podConfig(): Readonly<GatewayConfig> {
  const mount = container.volumeMounts!.find((m) => envValue('GATEWAY_CONFIG')!.value!.startsWith(`${m.mountPath}/`))!;
  const volume = pod.volumes!.find((v) => v.name === mount.name)!;
  const configMap = generated.find((g) => g.object.metadata.name === volume.configMap!.name)!.object as unknown as { data: Record<string, string> };
  const file = envValue('GATEWAY_CONFIG')!.value!.slice(mount.mountPath.length + 1);
  const env = Object.fromEntries([
    ...Object.entries(secret.stringData ?? {}),
    ...(container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]),
  ]);
  return parseConfig(configMap.data[file]!, env, `ConfigMap ${volume.configMap!.name}/${file}`);
}

describe('every manifest under deploy/ is a valid Kubernetes object', () => {
  it('applies every manifest file it ships, except the example Secret', () => {
    const files = readdirSync(join(DEPLOY, 'kubernetes')).map((f) => `kubernetes/${f}`);
    expect([...kustomization.resources, 'kubernetes/secret.example.yaml'].sort()).toEqual(files.sort());
  });

  for (const m of [...applied, ...secretExample, ...generated]) {
    it(`${m.file}: ${m.object.kind} ${m.object.metadata?.name} is a valid ${m.object.apiVersion} ${m.object.kind}`, () => {
      const model = MODELS[`${m.object.apiVersion}/${m.object.kind}`];
      expect(model, `no schema for ${m.object.apiVersion} ${m.object.kind}`).toBeDefined();
      expect(() => model!(m.object as never).validate()).not.toThrow();
    });
  }

  it('the validation can fail: a replica count that is not a number is refused', () => {
    const broken = structuredClone(deployment) as unknown as { spec: { replicas: unknown } };
    broken.spec.replicas = 'two';
    expect(() => new Deployment(broken as never).validate()).toThrow(/replicas must be integer/);
  });
});

describe('the Deployment runs the gateway as it is built to run', () => {
  let gateway: Gateway;
  let dir: string;
  let config: Readonly<GatewayConfig>;

  beforeAll(async () => {
    config = podConfig();
    dir = mkdtempSync(join(tmpdir(), 'nanogate-deploy-'));
    // The pods' config, on SQLite and memory here: only routes and ports are looked at.
    gateway = await createGateway({
      config: { ...config, database: { ...config.database, path: join(dir, 'n.db') } },
      logger: pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() })),
      adminToken: String(secret.stringData!['ADMIN_TOKEN']),
    });
  });
  afterAll(async () => {
    await gateway?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs two or more replicas, never fewer than one during a disruption', () => {
    expect(deployment.spec!.replicas).toBeGreaterThanOrEqual(2);
    const pdb = byKind<IPodDisruptionBudget>('PodDisruptionBudget')[0]!;
    expect(pdb.spec!.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec!.selector!.matchLabels).toEqual(deployment.spec!.template.metadata!.labels);
    expect(deployment.spec!.selector.matchLabels).toEqual(deployment.spec!.template.metadata!.labels);
  });

  it('probes /healthz (liveness) and /readyz (readiness) on the port the gateway serves them on, which is not the public one', async () => {
    const portOf = (name: unknown) => container.ports!.find((p) => p.name === name || p.containerPort === name)!.containerPort;
    const publicPort = Number(envValue('PORT')!.value);
    expect(portOf('http')).toBe(publicPort);
    expect(config.server.opsPort).toBeDefined();
    for (const [probe, path] of [
      [container.livenessProbe, '/healthz'],
      [container.readinessProbe, '/readyz'],
      [container.startupProbe, '/healthz'],
    ] as const) {
      expect(probe?.httpGet?.path).toBe(path);
      expect(portOf(probe!.httpGet!.port)).toBe(config.server.opsPort);
      const onOps = await gateway.ops!.inject({ method: 'GET', url: path });
      expect(onOps.statusCode).toBe(200);
      expect((await gateway.app.inject({ method: 'GET', url: path })).statusCode).toBe(404);
    }
    expect(envValue('HOST')!.value).toBe('0.0.0.0');
    expect(pod.containers[0]!.ports!.map((p) => p.containerPort).sort()).toEqual([publicPort, config.server.opsPort!].sort());
  });

  it('exposes only the public port in its Service, by a port name the container has', () => {
    const service = byKind<IService>('Service')[0]!;
    expect(service.spec!.selector).toEqual(deployment.spec!.template.metadata!.labels);
    for (const p of service.spec!.ports!) expect(container.ports!.some((c) => c.name === p.targetPort || c.containerPort === p.targetPort)).toBe(true);
    expect(service.spec!.ports!.map((p) => p.targetPort)).toEqual(['http']);
  });

  it('gives pods longer to stop than the gateway takes: preStop, shutdownGraceMs, metering and the flush', () => {
    const preStopMs = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0) * 1000;
    const graceMs = pod.terminationGracePeriodSeconds! * 1000;
    expect(graceMs).toBeGreaterThanOrEqual(preStopMs + config.server.shutdownGraceMs + SHUTDOWN_BEYOND_GRACE_MS);
  });

  it('requests CPU and memory, and runs as the unprivileged user with a writable /tmp for the answer spool', () => {
    expect(container.resources?.requests?.['cpu']).toBeDefined();
    expect(container.resources?.requests?.['memory']).toBeDefined();
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(container.volumeMounts!.some((m) => m.mountPath === '/tmp')).toBe(true);
  });

  it('reads its config from the generated ConfigMap and its keys and the Redis and PostgreSQL URLs from the Secret', () => {
    const fromSecret = (container.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.valueFrom!.secretKeyRef!);
    expect(fromSecret.map((r) => r.key).sort()).toEqual(['ADMIN_TOKEN', 'DATABASE_URL', 'GEMINI_API_KEY', 'REDIS_URL']);
    for (const ref of fromSecret) {
      expect(ref.name).toBe(secret.metadata!.name);
      expect(Object.keys(secret.stringData ?? {})).toContain(ref.key);
    }
    expect(String(secret.stringData!['REDIS_URL'])).toMatch(/^rediss?:\/\//);
    expect(String(secret.stringData!['DATABASE_URL'])).toMatch(/^postgres:\/\//);
    // No secret in the ConfigMap: the Google key comes in through ${GEMINI_API_KEY}.
    const configText = generated.map((g) => JSON.stringify(g.object)).join('');
    expect(configText).toContain('${GEMINI_API_KEY}');
    expect(configText).not.toContain(String(secret.stringData!['GEMINI_API_KEY']));
    // Nor the well-known development key.
    expect(config.tenants.flatMap((t) => t.keys)).toEqual([]);
  });
});

describe('the Docker image and docker compose', () => {
  const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const compose = parseYaml(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { image?: string; ports?: string[]; environment?: Record<string, string>; volumes?: string[]; stop_grace_period?: string }>;
  };

  it('pins its base image to the Node the test suite runs on', () => {
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThan(0);
    for (const from of froms) expect(from).toBe(`node:${process.versions.node}-bookworm-slim`);
  });

  it("bakes in no config with the development key, and ignores what the build does not need", () => {
    expect(dockerfile).not.toMatch(/^COPY config(\/)? /m);
    expect(dockerfile).toMatch(/^COPY deploy\/gateway\.yaml \.\/config\/gateway\.yaml$/m);
    const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n');
    for (const path of ['node_modules', 'dist', 'data', '.git', '.env']) expect(ignored).toContain(path);
    for (const copied of [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '))) {
      expect(existsSync(join(REPO, copied)), `${copied} is copied but missing`).toBe(true);
    }
  });

  it('builds the admin console in the build stage and ships the built files (#18)', () => {
    const [build = '', runtime = ''] = dockerfile.split(/^FROM .* AS runtime$/m);
    expect(build).toMatch(/^COPY console \.\/console$/m);
    expect(build).toMatch(/^RUN npm run build$/m);
    expect(runtime).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
  });

  it('binds to 127.0.0.1, needs ADMIN_TOKEN, mounts the config, and waits longer than the gateway takes to stop', () => {
    const gw = compose.services['gateway']!;
    for (const p of gw.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:/);
    expect(gw.environment!['ADMIN_TOKEN']).toMatch(/^\$\{ADMIN_TOKEN:\?/);
    expect(gw.volumes).toContain('${NANOGATE_CONFIG:-./deploy/gateway.yaml}:/app/config/gateway.yaml:ro');
    const config = parseConfig(readFileSync(join(DEPLOY, 'gateway.yaml'), 'utf8'), { GEMINI_API_KEY: 'k' }, 'deploy/gateway.yaml');
    expect(gw.ports!.some((p) => p.endsWith(`:${config.server.opsPort}`))).toBe(true);
    expect(Number(/^(\d+)s$/.exec(gw.stop_grace_period ?? '')?.[1]) * 1000).toBeGreaterThanOrEqual(config.server.shutdownGraceMs + SHUTDOWN_BEYOND_GRACE_MS);
    for (const [name, service] of Object.entries(compose.services)) if (service.image) expect({ name, image: service.image }).toEqual({ name, image: expect.stringMatching(/:\d+(\.\d+)+-/) });
  });
});
