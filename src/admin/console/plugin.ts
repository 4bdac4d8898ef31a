import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../../errors/gateway-error.js';
import { installErrorHandler, refuseOtherMethods } from '../../faces/error-handling.js';
import type { AuthFailureLimiter } from '../../tenants/auth-hook.js';
import { hashesEqual, hashKey } from '../../tenants/keys.js';
import { pacificDay } from '../../time/pacific.js';
import type { Clock } from '../../time/clock.js';
import { renderAdminError } from '../errors.js';
import { BUILT_CONSOLE_DIR, loadConsoleAssets, type ConsoleAsset } from './assets.js';
import { CSRF_HEADER, type ConsoleSession, type ConsoleSessions } from './session.js';

export interface ConsoleDeps {
  adminToken: string;
  sessions: ConsoleSessions;
  clock: Clock;
  authLimiter: AuthFailureLimiter;
  /** Where the built console is; default dist/console of this package. */
  assetsDir?: string;
}

/**
 * Nothing but the gateway's own files: no inline script or style, no other host, no framing.
 * uPlot sizes its elements through the CSSOM (element.style), which style-src does not govern.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const signInBody = z.strictObject({ token: z.string().min(1).max(1024) });

const NOT_BUILT = 'The admin console is not built: run `npm run build` (it compiles the console into dist/console).';

/**
 * The admin console (#18): its page and files, and sign-in with the admin token. Everything
 * here is public except what the session endpoint answers; the data the console shows comes
 * from the admin API, which accepts the session cookie (plugin.ts of the admin API checks it).
 * Registered beside the admin API, on the ops port when there is one, only with ADMIN_TOKEN.
 */
export async function consoleRoutes(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  installErrorHandler(app, renderAdminError);
  const assets = loadConsoleAssets(deps.assetsDir ?? BUILT_CONSOLE_DIR);
  if (assets.size === 0) app.log.warn({ dir: deps.assetsDir ?? BUILT_CONSOLE_DIR }, NOT_BUILT);
  const expected = hashKey(deps.adminToken);

  app.addHook('onSend', (_request, reply, payload, done) => {
    reply
      .header('content-security-policy', CONSOLE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin')
      .header('cross-origin-resource-policy', 'same-origin');
    done(null, payload);
  });

  const send = (request: FastifyRequest, reply: FastifyReply, asset: ConsoleAsset | undefined, cache: string) => {
    if (!asset) throw assets.size === 0 ? new GatewayError('NOT_IMPLEMENTED', NOT_BUILT) : new GatewayError('NOT_FOUND', 'No such console file.');
    reply.header('content-type', asset.contentType).header('cache-control', cache).header('etag', asset.etag);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  };

  // The page: never cached, so a new build is picked up at the next load.
  app.get('/admin/console', async (request, reply) => send(request, reply, assets.get('index.html'), 'no-store'));
  // Its files: revalidated by ETag on each load (a few small requests, no stale code after an upgrade).
  app.get('/admin/console/assets/*', async (request, reply) => {
    const path = (request.params as { '*': string })['*'];
    return send(request, reply, path === 'index.html' ? undefined : assets.get(path), 'no-cache');
  });

  const sessionView = (session: ConsoleSession) => {
    const nowMs = deps.clock.nowMs();
    return {
      signedIn: true,
      csrfToken: session.csrfToken,
      expiresAt: new Date(session.expiresAtMs).toISOString(),
      // The gateway's clock, not the browser's: reports and quotas run on Pacific days of it.
      now: new Date(nowMs).toISOString(),
      today: pacificDay(nowMs),
    };
  };
  const secure = (request: FastifyRequest) => request.protocol === 'https';

  app.get('/admin/console/session', async (request, reply) => {
    const session = deps.sessions.fromRequest(request);
    // Not signed in is an answer here, not an error: the page asks this first, to choose
    // between the sign-in form and the console.
    return reply.header('cache-control', 'no-store').send(session ? sessionView(session) : { signedIn: false });
  });

  app.post('/admin/console/session', { bodyLimit: 4096 }, async (request, reply) => {
    const blockedMs = deps.authLimiter.blockedFor(request);
    if (blockedMs > 0) throw new GatewayError('AUTH_RATE_LIMITED', 'Too many failed sign-ins from this address; try again later.', { retryAfterMs: blockedMs });
    const parsed = signInBody.safeParse(request.body);
    if (!parsed.success) throw new GatewayError('INVALID_ARGUMENT', 'token: the admin token is required', { param: 'token' });
    if (!hashesEqual(hashKey(parsed.data.token), expected)) {
      const { blocked, retryAfterMs } = await deps.authLimiter.recordFailure(request);
      if (blocked) throw new GatewayError('AUTH_RATE_LIMITED', 'Too many failed sign-ins from this address; try again later.', { retryAfterMs });
      throw new GatewayError('UNAUTHENTICATED', 'That is not the admin token.');
    }
    const { session, token } = deps.sessions.issue();
    return reply.header('set-cookie', deps.sessions.cookie(token, secure(request))).header('cache-control', 'no-store').send(sessionView(session));
  });

  app.delete('/admin/console/session', async (request, reply) => {
    const session = deps.sessions.fromRequest(request);
    if (session) {
      if (!deps.sessions.csrfMatches(session, request.headers[CSRF_HEADER])) {
        throw new GatewayError('FORBIDDEN', `Signing out needs the session's CSRF token in ${CSRF_HEADER}.`);
      }
      deps.sessions.end(session);
    }
    return reply.header('set-cookie', deps.sessions.clearCookie(secure(request))).code(204).send();
  });

  refuseOtherMethods(app, '/admin/console', ['GET']);
  refuseOtherMethods(app, '/admin/console/session', ['GET', 'POST', 'DELETE']);
}
