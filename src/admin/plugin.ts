import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../errors/gateway-error.js';
import type { KeyPatch, StoredKey, StoredTenant } from '../db/database.js';
import { DuplicateError } from '../db/database.js';
import { installErrorHandler, refuseOtherMethods } from '../faces/error-handling.js';
import { closeIfBodyPending } from '../http/early-refusal.js';
import type { FaceDeps } from '../faces/face-deps.js';
import type { ModelFindings } from '../models/model-findings.js';
import { describeModels } from '../models/model-report.js';
import type { QuotaService } from '../quota/quota-service.js';
import { hasConflictingRepeats } from '../tenants/credentials.js';
import { hashesEqual, hashKey, newKeyId, newTenantKey } from '../tenants/keys.js';
import type { Tenant } from '../tenants/registry.js';
import { sendUsageReport } from '../usage/usage-route.js';
import { renderAdminError } from './errors.js';
import { consoleApiRoutes } from './console-api.js';
import { CSRF_HEADER, type ConsoleSessions } from './console/session.js';

export interface AdminDeps extends FaceDeps {
  quota: QuotaService;
  /** The bearer token every admin route requires. buildApp registers this plugin only when one is set. */
  adminToken: string;
  /** What the live check and Google's answers found (GET /admin/models). */
  modelFindings?: ModelFindings;
  /** The admin console's sign-ins (#18): its session cookie stands in for the bearer token. */
  consoleSessions?: ConsoleSessions;
}

/** Methods that change nothing: the console's session alone suffices; any other needs its CSRF token too. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const count = z.int().nonnegative();
const limitsBody = z.strictObject({ rpm: count.optional(), tpm: count.optional(), rpd: count.optional(), ipm: count.optional() });
const budgetBody = z.strictObject({ dailyUsd: z.number().nonnegative().optional(), monthlyUsd: z.number().nonnegative().optional() });
const tenantId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: 'must be 1-64 letters, digits, ".", "_" or "-"' });
// A tenant names a project or, instead, a config pool (#17).
const createTenantBody = z.strictObject({ id: tenantId, project: z.string().optional(), pool: z.string().optional(), limits: limitsBody.optional(), budget: budgetBody.optional() });
const patchTenantBody = z.strictObject({ project: z.string().optional(), pool: z.string().optional(), limits: limitsBody.optional(), budget: budgetBody.optional(), disabled: z.boolean().optional() });
const keyLabel = z.string().max(200);
const instant = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 instant such as 2026-12-31T23:59:59Z' });
/** A key's own settings (#13.3): `label` (`name` is its older spelling), limits, budget, expiry. */
const keySettingsFields = {
  label: keyLabel.optional(),
  name: keyLabel.optional(),
  limits: limitsBody.optional(),
  budget: budgetBody.optional(),
};
const createKeyBody = z.strictObject({ ...keySettingsFields, expiresAt: instant.optional() }).optional();
const patchKeyBody = z.strictObject({ ...keySettingsFields, label: keyLabel.nullable().optional(), expiresAt: instant.nullable().optional() });

/** The label given as `label` or as `name`; both, differing, is a 400. Undefined: not given. */
function labelOf(body: { label?: string | null | undefined; name?: string | undefined } | undefined): string | null | undefined {
  if (body?.label !== undefined && body.name !== undefined && body.label !== body.name) {
    throw new GatewayError('INVALID_ARGUMENT', 'label: give the label once (name is its older spelling)', { param: 'label' });
  }
  return body?.label !== undefined ? body.label : body?.name;
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? undefined);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = issue.path.map(String).join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(',') : '');
  throw new GatewayError('INVALID_ARGUMENT', `${param ? `${param}: ` : ''}${issue.message}`, param ? { param } : {});
}

function tenantView(t: StoredTenant | Tenant): Record<string, unknown> {
  if ('source' in t) return { id: t.id, project: t.projectId, ...(t.poolId !== undefined ? { pool: t.poolId } : {}), limits: t.limits ?? {}, budget: t.budget ?? {}, source: t.source, disabled: false };
  return { id: t.id, project: t.project, ...(t.pool !== undefined ? { pool: t.pool } : {}), limits: t.limits, budget: t.budget, source: 'admin', disabled: t.disabled, createdAt: new Date(t.createdAtMs).toISOString(), updatedAt: new Date(t.updatedAtMs).toISOString() };
}

function keyView(k: StoredKey): Record<string, unknown> {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: k.keyId,
    tenant: k.tenantId,
    label: k.name,
    // The label's older name, kept for clients written against it.
    name: k.name,
    limits: k.limits,
    budget: k.budget,
    expiresAt: iso(k.expiresAtMs),
    createdAt: iso(k.createdAtMs),
    updatedAt: iso(k.updatedAtMs),
    revokedAt: iso(k.revokedAtMs),
  };
}

/**
 * Tenants, keys, quota and usage for operators (contract §10), behind ADMIN_TOKEN.
 *
 * The token check is a hook of this encapsulated plugin, so it runs for every route registered
 * here, whatever form the request line took (`/%61dmin/…`, absolute-form): it hangs on the
 * route the router matched, never on a test of the raw URL. It runs in onRequest, before any
 * body is read. With no token configured this plugin is not registered at all, so no admin
 * route exists.
 */
export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  installErrorHandler(app, renderAdminError);
  const expected = hashKey(deps.adminToken);

  app.addHook('onRequest', (request: FastifyRequest, reply, done) => {
    const m = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
    if (m?.[1] && hashesEqual(hashKey(m[1].trim()), expected) && !hasConflictingRepeats(request.raw.rawHeaders, 'authorization')) return done();
    // The console's calls (#18): its session cookie instead of the token, and on every request
    // that changes state the session's CSRF token in a header, which another site cannot read
    // or set. A request that sends a wrong bearer token is refused whatever its cookie.
    const session = request.headers.authorization === undefined ? deps.consoleSessions?.fromRequest(request) : undefined;
    if (session) {
      if (SAFE_METHODS.has(request.method) || deps.consoleSessions!.csrfMatches(session, request.headers[CSRF_HEADER])) return done();
      closeIfBodyPending(request, reply);
      return done(new GatewayError('FORBIDDEN', `A console request that changes state needs the session's CSRF token in ${CSRF_HEADER}.`));
    }
    closeIfBodyPending(request, reply);
    done(new GatewayError('UNAUTHENTICATED', 'The admin API needs Authorization: Bearer $ADMIN_TOKEN.'));
  });

  const refuseConfigTenant = (id: string) => {
    if (deps.tenants.isConfigTenant(id)) {
      throw new GatewayError('CONFLICT', `Tenant ${id} comes from the config file, which is read-only at run time; change it there.`);
    }
  };
  const requireProject = (project: string) => {
    if (!deps.projects.has(project)) throw new GatewayError('INVALID_ARGUMENT', `project: unknown project ${project}`, { param: 'project' });
  };
  /** Where a tenant's calls go: its project, or a config pool (stored with the pool's first project). */
  const placement = (body: { project?: string | undefined; pool?: string | undefined }): { project: string; pool: string | null } => {
    if ((body.project === undefined) === (body.pool === undefined)) {
      throw new GatewayError('INVALID_ARGUMENT', 'project: name either a project or a pool', { param: 'project' });
    }
    if (body.project !== undefined) {
      requireProject(body.project);
      return { project: body.project, pool: null };
    }
    const pool = deps.config.pools.find((p) => p.id === body.pool);
    if (!pool) throw new GatewayError('INVALID_ARGUMENT', `pool: unknown pool ${body.pool}`, { param: 'pool' });
    return { project: pool.projects[0]!.project, pool: pool.id };
  };
  const storedTenant = async (id: string): Promise<StoredTenant> => {
    const t = await deps.db.getTenant(id);
    if (!t) throw new GatewayError('NOT_FOUND', `No tenant ${id}.`);
    return t;
  };

  app.post('/admin/tenants', async (request, reply) => {
    const body = parseBody(createTenantBody, request.body);
    const where = placement(body);
    if (deps.tenants.isConfigTenant(body.id)) throw new GatewayError('CONFLICT', `Tenant ${body.id} already exists in the config file.`);
    try {
      const t = await deps.db.createTenant({ id: body.id, project: where.project, ...(where.pool !== null ? { pool: where.pool } : {}), limits: body.limits ?? {}, budget: body.budget ?? {}, disabled: false }, deps.clock.nowMs());
      await deps.tenants.refresh();
      return reply.code(201).send(tenantView(t));
    } catch (e) {
      if (e instanceof DuplicateError) throw new GatewayError('CONFLICT', `Tenant ${body.id} already exists.`);
      throw e;
    }
  });

  app.get('/admin/tenants', async () => {
    const stored = await deps.db.listTenants();
    return { tenants: [...deps.tenants.configTenants().map(tenantView), ...stored.filter((t) => !deps.tenants.isConfigTenant(t.id)).map(tenantView)] };
  });

  app.get('/admin/tenants/:id', async (request) => {
    const { id } = request.params as { id: string };
    const fromConfig = deps.tenants.isConfigTenant(id) ? deps.tenants.tenant(id) : undefined;
    if (fromConfig) return tenantView(fromConfig);
    const t = await storedTenant(id);
    return { ...tenantView(t), keys: (await deps.db.listKeys(id)).map(keyView) };
  });

  app.patch('/admin/tenants/:id', async (request) => {
    const { id } = request.params as { id: string };
    refuseConfigTenant(id);
    const { project, pool, ...rest } = parseBody(patchTenantBody, request.body);
    // Naming a project leaves any pool; naming a pool moves the tenant onto it.
    const where = project !== undefined || pool !== undefined ? placement({ project, pool }) : undefined;
    const t = await deps.db.updateTenant(id, { ...rest, ...(where ? { project: where.project, pool: where.pool } : {}) }, deps.clock.nowMs());
    if (!t) throw new GatewayError('NOT_FOUND', `No tenant ${id}.`);
    await deps.tenants.refresh();
    return tenantView(t);
  });

  app.delete('/admin/tenants/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    refuseConfigTenant(id);
    if (!(await deps.db.deleteTenant(id, deps.clock.nowMs()))) throw new GatewayError('NOT_FOUND', `No tenant ${id}.`);
    await deps.tenants.refresh();
    return reply.code(204).send();
  });

  app.post('/admin/tenants/:id/keys', async (request, reply) => {
    const { id } = request.params as { id: string };
    refuseConfigTenant(id);
    const body = parseBody(createKeyBody, request.body);
    const nowMs = deps.clock.nowMs();
    const expiresAtMs = body?.expiresAt !== undefined ? Date.parse(body.expiresAt) : undefined;
    if (expiresAtMs !== undefined && expiresAtMs <= nowMs) throw new GatewayError('INVALID_ARGUMENT', 'expiresAt: must be in the future', { param: 'expiresAt' });
    const label = labelOf(body);
    await storedTenant(id);
    const key = newTenantKey();
    const stored = await deps.db.createKey({
      keyId: newKeyId(),
      tenantId: id,
      hash: hashKey(key),
      name: label ?? null,
      createdAtMs: nowMs,
      ...(body?.limits ? { limits: body.limits } : {}),
      ...(body?.budget ? { budget: body.budget } : {}),
      ...(expiresAtMs !== undefined ? { expiresAtMs } : {}),
    });
    await deps.tenants.refresh();
    // The key itself is shown here, once; only its hash is kept.
    return reply.code(201).send({ ...keyView(stored), key });
  });

  app.get('/admin/tenants/:id/keys', async (request) => {
    const { id } = request.params as { id: string };
    refuseConfigTenant(id);
    await storedTenant(id);
    return { keys: (await deps.db.listKeys(id)).map(keyView) };
  });

  // A key's own settings (#13.3): label, limits and budget (each replaced whole), expiry (null: none).
  app.patch('/admin/tenants/:id/keys/:keyId', async (request) => {
    const { id, keyId } = request.params as { id: string; keyId: string };
    refuseConfigTenant(id);
    const body = parseBody(patchKeyBody, request.body);
    const label = labelOf(body);
    const patch: KeyPatch = {
      ...(label !== undefined ? { name: label } : {}),
      ...(body.limits ? { limits: body.limits } : {}),
      ...(body.budget ? { budget: body.budget } : {}),
      ...(body.expiresAt !== undefined ? { expiresAtMs: body.expiresAt === null ? null : Date.parse(body.expiresAt) } : {}),
    };
    const k = await deps.db.updateKey(id, keyId, patch, deps.clock.nowMs());
    if (!k) throw new GatewayError('NOT_FOUND', `No unrevoked key ${keyId} for tenant ${id}.`);
    await deps.tenants.refresh();
    return keyView(k);
  });

  app.delete('/admin/tenants/:id/keys/:keyId', async (request, reply) => {
    const { id, keyId } = request.params as { id: string; keyId: string };
    refuseConfigTenant(id);
    if (!(await deps.db.revokeKey(id, keyId, deps.clock.nowMs()))) throw new GatewayError('NOT_FOUND', `No key ${keyId} for tenant ${id}.`);
    await deps.tenants.refresh();
    return reply.code(204).send();
  });

  app.get('/admin/projects/:id/quota', async (request) => {
    const { id } = request.params as { id: string };
    const project = deps.projects.get(id);
    if (!project) throw new GatewayError('NOT_FOUND', `No project ${id}.`);
    const nowMs = deps.clock.nowMs();
    const { rows, cooldowns } = await deps.quota.snapshotWithCooldowns(project, deps.models.canonicalModels(), nowMs);
    const models: Record<string, Record<string, unknown>> = {};
    for (const r of rows) {
      (models[r.model] ??= {})[r.dimension] = { limit: r.limit, used: r.used, remaining: r.remaining, resetAt: new Date(r.resetAtMs).toISOString() };
    }
    // Models refused locally after Google's 429, until `until` (the console's live quota view).
    const cooling = Object.fromEntries(cooldowns.map((c) => [c.model, { until: new Date(c.untilMs).toISOString(), remainingMs: c.untilMs - nowMs }]));
    return { project: id, tier: project.tier, at: new Date(nowMs).toISOString(), models, cooldowns: cooling };
  });

  app.get('/admin/usage', async (request, reply) => sendUsageReport(request, reply, deps, {}));

  // The model table as routed now, and what the live check against Google found (#11; the
  // admin console, #18, reads this shape).
  app.get('/admin/models', async () => ({
    models: describeModels(deps.models, deps.clock.nowMs(), deps.config.models.retired),
    liveCheck: deps.modelFindings?.view() ?? null,
  }));

  consoleApiRoutes(app, deps);

  refuseOtherMethods(app, '/admin/tenants', ['GET', 'POST']);
  refuseOtherMethods(app, '/admin/tenants/:id', ['GET', 'PATCH', 'DELETE']);
  refuseOtherMethods(app, '/admin/tenants/:id/keys', ['GET', 'POST']);
  refuseOtherMethods(app, '/admin/tenants/:id/keys/:keyId', ['PATCH', 'DELETE']);
  refuseOtherMethods(app, '/admin/usage', ['GET']);
  refuseOtherMethods(app, '/admin/models', ['GET']);
}
