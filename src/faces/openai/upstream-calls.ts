import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { parseGoogleError } from '../../gemini/errors.js';
import type { RequestEstimate } from '../../gemini/request-inspect.js';
import { ResponseScanner, type ScannedImage, type ScannedPart, type ScanSummary } from '../../gemini/response-scanner.js';
import type { ModelSpec } from '../../models/catalog.js';
import { lifecycleHeaders } from '../../models/resolver.js';
import type { Admission } from '../../quota/quota-service.js';
import { newCallTally, type CallOutcome, type ProjectRuntime, type StartedCall } from '../../relay/gemini-relay.js';
import type { Caller } from '../../tenants/registry.js';
import { BUDGET_REMAINING_HEADER, BudgetService } from '../../usage/budget.js';
import { formatUsd } from '../../usage/money.js';
import { abortOnClientGone } from '../client-connection.js';
import type { FaceDeps } from '../face-deps.js';
import { SpoolDiskError, type AnswerSpool } from './answer-spool.js';
import { rateLimitHeaders } from './errors.js';
import type { SplicePiece } from './json-splice.js';

/** How many of a request's n images failed, when some did (#14.7); the same count is `usage.images_failed`. */
export const IMAGES_FAILED_HEADER = 'x-nanogate-images-failed';

/** A Google error answer as a GatewayError the OpenAI renderer maps (429, 400, 5xx ...). */
export function upstreamFailure(answer: Extract<StartedCall, { ok: false }>): GatewayError {
  const google = parseGoogleError(answer.body);
  const message = google?.error.message ?? `Google answered HTTP ${answer.status}.`;
  return new GatewayError('UPSTREAM_ERROR', message, {
    upstream: {
      httpStatus: answer.status,
      googleStatus: google?.error.status ?? 'UNKNOWN',
      message,
      ...(answer.retryAfterMs !== undefined ? { retryAfterMs: answer.retryAfterMs } : {}),
      ...(google ? { body: google } : {}),
    },
  });
}

/** One upstream call of a request: the Gemini body and what the relay needs to admit, send and meter it. */
export interface CallPlan {
  /** Ledger route: 'openai.chat', 'openai.responses', ... */
  route: string;
  model: ModelSpec;
  modelAsked: string;
  /** The generateContent body Google receives. */
  body: Buffer;
  estimate: RequestEstimate;
  user?: string;
  /** streamGenerateContent with alt=sse, so parts (interim images, text deltas) arrive as Google makes them. */
  stream: boolean;
}

/** A call's answer, read whole: the relay's metering, and the content this face reads from it. */
export interface CallContent {
  outcome: CallOutcome;
  admission: Admission;
  /** Images (kept in memory, or byte ranges of `spool`), text, thought signatures, finish reasons. */
  content: ScanSummary;
  /** Where the answer waits when the call was started with one: its images' ranges point into it. */
  spool?: AnswerSpool;
}

export interface RunningCall {
  /** Settles when Google's answer has ended and the call is metered; rejects if the answer broke off. */
  done: Promise<CallContent>;
}

/**
 * The upstream calls of one OpenAI-face request, all through the one relay (budget and quota
 * admission, the call, metering into the ledger: no side doors). The relay's own scanner meters
 * each answer; a second scanner here, fed the same chunks as the answer's consumer, keeps what
 * the face returns (images, text, thought signatures) and reports parts as they close, which a
 * streaming route forwards at once. Images are held in memory until the request's answer is
 * written: these routes put them inside JSON (data URLs, base64 fields), and a 4K image is
 * about 20 MB of base64.
 */
export class ImageCalls {
  readonly #deps: FaceDeps;
  readonly #request: FastifyRequest;
  readonly #signal: AbortSignal;
  readonly #project: ProjectRuntime;

  constructor(deps: FaceDeps, request: FastifyRequest, reply: FastifyReply, model: ModelSpec, modelAsked: string) {
    this.#deps = deps;
    this.#request = request;
    const caller = request.caller!;
    request.modelAsked = modelAsked;
    request.modelId = model.id;
    request.upstreamTally ??= newCallTally();
    const nowMs = deps.clock.nowMs();
    const found = deps.models.route(modelAsked, nowMs);
    if (found) reply.headers(lifecycleHeaders(found, nowMs));
    reply.header('x-nanogate-model', model.id);
    this.#signal = abortOnClientGone(request, reply);
    this.#project = projectOf(deps, caller);
  }

  get signal(): AbortSignal {
    return this.#signal;
  }

  /**
   * Admits and starts one call; rejects with the refusal or Google's error answer, before any of
   * its body. With a spool, the answer waits in it (memory up to the face's limit, else a file)
   * and its images are byte ranges of it: for routes that answer once every call is done.
   */
  async start(plan: CallPlan, onPart?: (part: ScannedPart) => void, spool?: AnswerSpool): Promise<RunningCall> {
    const answer = await this.#deps.relay.start({
      requestId: this.#request.id,
      caller: this.#request.caller!,
      project: this.#project,
      model: plan.model,
      modelAsked: plan.modelAsked,
      route: plan.route,
      apiVersion: 'v1beta',
      action: plan.stream ? 'streamGenerateContent' : 'generateContent',
      framing: plan.stream ? 'sse' : 'json',
      body: plan.body,
      estimate: plan.estimate,
      ...(plan.user !== undefined ? { user: plan.user } : {}),
      signal: this.#signal,
      tally: this.#request.upstreamTally!,
    });
    if (!answer.ok) {
      await answer.outcome;
      throw upstreamFailure(answer);
    }
    if (spool) return { done: this.#spooled(answer, plan, spool) };
    const scanner = new ResponseScanner({ framing: plan.stream ? 'sse' : 'json', captureImages: true, captureSignatures: true, ...(onPart ? { onPart } : {}) });
    const read = new Promise<ScanSummary>((resolve, reject) => {
      answer.body.attach({
        data: (chunk) => {
          scanner.write(chunk);
          return true;
        },
        end: () => resolve(scanner.end()),
        error: () => reject(new GatewayError('UPSTREAM_UNAVAILABLE', "Google's answer broke off before it was complete.")),
      });
    });
    const done = read.then(async (content) => ({ content, outcome: await answer.outcome, admission: answer.admission }));
    // A failure is the caller's to handle once it awaits `done`; never an unhandled rejection meanwhile.
    done.catch(() => {});
    return { done };
  }

  #spooled(answer: Extract<StartedCall, { ok: true }>, plan: CallPlan, spool: AnswerSpool): Promise<CallContent> {
    const scanner = new ResponseScanner({ framing: plan.stream ? 'sse' : 'json', captureImages: 'ranges', captureSignatures: true });
    const done = spool.consume(answer.body, (chunk) => scanner.write(chunk)).then(
      async () => ({ content: scanner.end(), outcome: await answer.outcome, admission: answer.admission, spool }),
      (e: unknown) => {
        throw spoolFailure(e, this.#request.log);
      },
    );
    // A failure is the caller's to handle once it awaits `done`; never an unhandled rejection meanwhile.
    done.catch(() => {});
    return done;
  }
}

/**
 * Why an answer could not be kept: the gateway's own disk (a 500 of ours, logged with its
 * cause), or Google's answer breaking off (or the client leaving) before it ended.
 */
export function spoolFailure(e: unknown, log: FastifyBaseLogger): GatewayError {
  if (e instanceof SpoolDiskError) {
    log.error({ err: e }, 'the answer spool could not write to the local disk');
    const code = (e.cause as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
    return new GatewayError('INTERNAL', `The gateway could not keep Google's answer: its local disk failed (${code}). The operator has been alerted.`);
  }
  return new GatewayError('UPSTREAM_UNAVAILABLE', "Google's answer broke off before it was complete.");
}

/** An image's base64 in memory, to decode or convert: its captured Buffers, or read back whole from its spool. */
export async function readImageBase64(image: ScannedImage, spool: AnswerSpool | undefined): Promise<Buffer[]> {
  if (!image.ranges || !spool) return image.base64;
  const pieces: Buffer[] = [];
  for await (const piece of spool.read(image.ranges, image.escaped)) pieces.push(piece);
  return pieces;
}

/**
 * An image's base64 as splice pieces: the Buffers it was captured in, slices of its answer held
 * in memory, or a read of its spool file when the response is written.
 */
export function imagePieces(image: ScannedImage, spool: AnswerSpool | undefined): SplicePiece[] {
  if (!image.ranges || !spool) return image.base64;
  const ranges = image.ranges;
  if (spool.inMemory && !image.escaped) return ranges.flatMap(([start, end]) => [...spool.memorySlices(start, end)]);
  return [{ length: image.escaped ? undefined : image.base64Length, read: () => spool.read(ranges, image.escaped) }];
}

function projectOf(deps: FaceDeps, caller: Caller): ProjectRuntime {
  const p = deps.projects.get(caller.tenant.projectId);
  if (!p) throw new GatewayError('INTERNAL', `Tenant ${caller.tenant.id} names project ${caller.tenant.projectId}, which is not configured.`);
  return p;
}

/**
 * The headers of an answer once its calls have settled: what they cost, what the caller's budget
 * has left (read from the store: each call saw only its own hold), the request limit after the
 * last admitted call, and how many of the images asked for failed.
 */
export async function settlementHeaders(
  deps: FaceDeps,
  request: FastifyRequest,
  settled: { costNanoUsd: number; admissions: readonly Admission[]; failed: number; anyAnswered: boolean },
): Promise<Record<string, string>> {
  const headers: Record<string, string> = { 'x-nanogate-cost-usd': formatUsd(settled.costNanoUsd) };
  const caller = request.caller!;
  const owners = { tenantId: caller.tenant.id, tenantBudget: caller.tenant.budget, keyId: caller.keyId, keyBudget: caller.key?.budget };
  if (settled.anyAnswered && BudgetService.applies(owners)) {
    try {
      const left = await deps.budgets.remaining(owners, deps.clock.nowMs());
      if (left !== undefined) headers[BUDGET_REMAINING_HEADER] = formatUsd(left);
    } catch (err) {
      request.log.warn({ err: (err as Error).message }, 'could not read the remaining budget for its header');
    }
  }
  const last = settled.admissions[settled.admissions.length - 1];
  // The project that served the (last) call: in a pool, the one admission chose or its thought signatures tied it to (#17).
  if (last) headers['x-nanogate-project'] = last.projectId;
  if (last && last.limitRequests !== undefined && last.remainingRequests !== undefined && last.resetRequestsMs !== undefined) {
    Object.assign(headers, rateLimitHeaders({ limit: last.limitRequests, remaining: last.remainingRequests, resetMs: last.resetRequestsMs }));
  }
  if (settled.failed > 0) headers[IMAGES_FAILED_HEADER] = String(settled.failed);
  return headers;
}

/** The images of a summary the client gets: the final (non-thought) ones, in order. */
export function finalImages(summary: ScanSummary): ScanSummary['images'] {
  return summary.images.filter((i) => !i.thought);
}

/** An image's base64 as one Buffer (its captured slices joined). */
export function imageBase64(image: ScanSummary['images'][number]): Buffer {
  return image.base64.length === 1 ? image.base64[0]! : Buffer.concat(image.base64);
}
