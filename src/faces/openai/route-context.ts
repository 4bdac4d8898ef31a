import type { FastifyReply, onRequestHookHandler } from 'fastify';
import type { FaceDeps } from '../face-deps.js';
import type { AnswerSpools } from './answer-spool.js';
import type { ParseOptions } from './generations-request.js';
import type { ImageUrlPolicy } from './image-inputs.js';
import type { SplicePiece } from './json-splice.js';
import { piecesBody } from './response-body.js';
import type { CallContent } from './upstream-calls.js';

/** What the OpenAI face's routes share: its deps, the tenant auth hook, name resolution, the image URL policy. */
export interface RouteContext {
  deps: FaceDeps;
  auth: onRequestHookHandler;
  parseOpts: () => ParseOptions;
  imageUrlPolicy: ImageUrlPolicy;
  /** Where whole answers wait for their response (AnswerSpool). */
  spools: AnswerSpools;
}

/** The image URL policy of a config: allowed hosts, and the body limit as the most one image may be. */
export function imageUrlPolicyOf(deps: FaceDeps): ImageUrlPolicy {
  return { allowHosts: deps.config.openai.imageUrlHosts, maxBytes: deps.config.server.bodyLimitBytes, timeoutMs: 30_000 };
}

/** How n settled calls came out: those Google answered, those the route accepts, and the first failure in call order. */
export interface SettledCalls {
  answered: CallContent[];
  good: CallContent[];
  /** The first failure in call order (a refusal, Google's error, or an answer the route rejects). */
  firstError: unknown;
  failed: number;
  costNanoUsd: number;
}

export function settleCalls(
  settled: ReadonlyArray<PromiseSettledResult<CallContent>>,
  verdict: (c: CallContent) => { ok: true } | { ok: false; error: unknown },
): SettledCalls {
  const answered: CallContent[] = [];
  const good: CallContent[] = [];
  let firstError: unknown;
  for (const s of settled) {
    if (s.status === 'rejected') {
      firstError ??= s.reason;
      continue;
    }
    answered.push(s.value);
    const v = verdict(s.value);
    if (v.ok) good.push(s.value);
    else firstError ??= v.error;
  }
  const costNanoUsd = answered.reduce((sum, c) => sum + c.outcome.cost.costNanoUsd, 0);
  return { answered, good, firstError, failed: settled.length - good.length, costNanoUsd };
}

/**
 * A JSON body given as pieces (images spliced in): Buffers sent as they are, spooled images read
 * back as the client takes them; its length when every piece's is known.
 */
export function sendJsonPieces(reply: FastifyReply, pieces: readonly SplicePiece[]): FastifyReply {
  reply.header('content-type', 'application/json');
  let length: number | undefined = 0;
  for (const p of pieces) length = length === undefined || p.length === undefined ? undefined : length + p.length;
  if (length !== undefined) reply.header('content-length', String(length));
  return reply.send(piecesBody(pieces));
}
