import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * A request refused before its body was read (authentication in onRequest) closes its
 * connection after the answer: otherwise Node would go on reading, and discarding, whatever a
 * stranger keeps sending on a keep-alive connection.
 */
export function closeIfBodyPending(request: FastifyRequest, reply: FastifyReply): void {
  const headers = request.headers;
  const declared = headers['content-length'];
  if ((declared !== undefined && declared !== '0') || headers['transfer-encoding'] !== undefined) reply.header('connection', 'close');
}
