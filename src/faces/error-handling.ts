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

/**
 * A face's error handler: every error, thrown anywhere under it, rendered in the face's wire
 * shape. Unknown errors are logged with their stack and rendered as a plain 500.
 */
export function installErrorHandler(instance: FastifyInstance, render: ErrorRenderer): void {
  instance.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const gatewayError = toGatewayError(error);
    if (gatewayError.code === 'INTERNAL') request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, gatewayError, render);
  });
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
