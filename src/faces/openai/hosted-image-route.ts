import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { HOSTED_IMAGE_PATH } from '../../images/hosted-images.js';
import { refuseOtherMethods } from '../error-handling.js';
import type { FaceDeps } from '../face-deps.js';

/**
 * The images of `response_format: "url"` answers (#14.4), served to anyone holding a URL whose
 * signature holds until it expires, as OpenAI's are: no key, since the URL is handed to
 * browsers and other services. Expired, altered and unknown URLs get one and the same 404.
 */
export function registerHostedImageRoute(app: FastifyInstance, deps: FaceDeps): void {
  const path = `${HOSTED_IMAGE_PATH}/:file`;
  app.get(path, async (request, reply) => {
    const { file } = request.params as { file: string };
    const image = deps.hostedImages ? await deps.hostedImages.open(file, request.query as Record<string, unknown>) : undefined;
    if (!image) throw new GatewayError('NOT_FOUND', 'This image URL has expired or does not exist. Image URLs are valid for 60 minutes.');
    const maxAgeSec = Math.max(0, Math.floor((image.expiresAtMs - deps.clock.nowMs()) / 1000));
    reply.header('content-type', image.contentType);
    reply.header('cache-control', `private, max-age=${maxAgeSec}`);
    reply.header('x-content-type-options', 'nosniff');
    return reply.send(image.bytes);
  });
  refuseOtherMethods(app, path, ['GET']);
}
