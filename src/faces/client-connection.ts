import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * An AbortSignal that fires when the client goes away before the answer is complete, so its
 * upstream call is aborted rather than left running (contract §11).
 */
export function abortOnClientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort();
  };
  reply.raw.once('close', onClose);
  request.raw.once('aborted', onClose);
  return controller.signal;
}

/** RFC 9110 §10.1.4: a client that can take trailers says `TE: trailers`. */
export function wantsTrailers(request: FastifyRequest): boolean {
  const te = request.headers.te;
  return typeof te === 'string' && /(^|,)\s*trailers\s*(;|,|$)/i.test(te);
}
