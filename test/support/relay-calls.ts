import { estimateRequest } from '../../src/gemini/request-inspect.js';
import type { GenerateContentRequest } from '../../src/gemini/types.js';
import type { CallRequest } from '../../src/relay/gemini-relay.js';
import type { AnswerBody } from '../../src/upstream/answer-body.js';

/** A one-prompt Gemini request, as the relay tests send it. */
export const PROMPT: GenerateContentRequest = { contents: [{ parts: [{ text: 'a banana in a spacesuit' }] }] };

/** A native generateContent call for the relay, its estimate made from `body`; `over` replaces any field. */
export function relayCall(base: Pick<CallRequest, 'requestId' | 'caller' | 'project' | 'model'>, over: Partial<CallRequest> = {}, body: GenerateContentRequest = PROMPT): CallRequest {
  const model = over.model ?? base.model;
  return {
    ...base,
    model,
    modelAsked: 'nano-banana-pro',
    route: 'native.generateContent',
    apiVersion: 'v1beta',
    action: 'generateContent',
    framing: 'json',
    body: Buffer.from(JSON.stringify(body)),
    estimate: estimateRequest(model, body),
    signal: new AbortController().signal,
    ...over,
  };
}

/** An answer body read to its end. */
export function readAll(body: AnswerBody): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.attach({ data: (chunk) => chunks.push(chunk) > 0, end: () => resolve(Buffer.concat(chunks)), error: reject });
  });
}
