import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import { toGatewayError } from '../errors/from-fastify.js';

export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export type ErrorRenderer = (err: GatewayError) => RenderedError;

export function sendError(reply: FastifyReply, err: GatewayError, render: ErrorRenderer): FastifyReply {
  const r = render(err);
  return reply.code(r.status).headers(r.headers).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(r.body));
}

/** Sees each error before it is rendered (metrics, headers). */
export type ErrorObserver = (err: GatewayError, request: FastifyRequest, reply: FastifyReply) => void;

/**
 * A face's error handler: every error, thrown anywhere under it, rendered in the face's wire
 * shape. Unknown errors are logged with their stack and rendered as a plain 500. `observe`
 * sees each error first (metrics, headers). `render` may pick the shape by request (the root
 * handler, for errors raised outside every face).
 */
export function installErrorHandler(
  instance: FastifyInstance,
  render: (err: GatewayError, request: FastifyRequest) => RenderedError,
  observe?: ErrorObserver,
): void {
  instance.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const gatewayError = toGatewayError(error);
    // A client that has left reads no answer; what broke as it left ("Premature close") is its leaving.
    const clientGone = reply.raw.destroyed && !reply.raw.writableFinished;
    if (clientGone) request.log.info({ err: (error as Error)?.message, code: gatewayError.code }, 'client left before its answer');
    else if (gatewayError.code === 'INTERNAL' && !(error instanceof GatewayError)) request.log.error({ err: error }, 'unhandled error');
    else if (gatewayError.code === 'STORE_UNAVAILABLE' && !(error instanceof GatewayError)) request.log.warn({ err: (error as Error).message }, 'storage unavailable');
    observe?.(gatewayError, request, reply);
    return sendError(reply, gatewayError, (err) => render(err, request));
  });
}

/**
 * For the model faces: a refusal or error still says what it cost (contract §4: known before
 * the body, so a header), zero unless the handler already set what its upstream calls cost,
 * and which model it concerned when that was resolved.
 */
export function modelRouteErrorObserver(onError: (err: GatewayError) => void): ErrorObserver {
  return (err, request, reply) => {
    onError(err);
    if (!reply.hasHeader('x-nanogate-cost-usd')) reply.header('x-nanogate-cost-usd', '0.000000');
    if (request.modelId && !reply.hasHeader('x-nanogate-model')) reply.header('x-nanogate-model', request.modelId);
  };
}

/** Answers 405 with Allow for every method a path does not serve (contract §11). */
export function refuseOtherMethods(instance: FastifyInstance, url: string, allowed: readonly string[]): void {
  const all = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
  const others = all.filter((m) => !allowed.includes(m) && !(m === 'HEAD' && allowed.includes('GET')));
  instance.route({
    method: others,
    url,
    handler: async (request) => {
      throw new GatewayError('METHOD_NOT_ALLOWED', `Method ${request.method} is not allowed on ${request.routeOptions.url}; use ${allowed.join(' or ')}.`, {
        allow: allowed,
      });
    },
  });
}
