import type { IncomingMessage } from 'node:http';
import { errorCodes } from 'fastify';

/**
 * A request body read into one Buffer. With a Content-Length (what every SDK sends), the Buffer
 * is allocated once at that size and each chunk is copied in as it arrives, so the chunks die
 * young. Fastify's own `parseAs: 'buffer'` keeps every chunk until the end and then joins them:
 * a 4 MB edit request then holds 8 MB that outlive the young generation, and the mark-compacts
 * that external memory forces cost more than the copy (#15, native edits). Without a length
 * (chunked), chunks are kept and joined as Fastify does.
 *
 * Errors are Fastify's own (413, 400 for a length that does not match), so every face renders
 * them as it renders Fastify's.
 */
export function readBodyBuffer(payload: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const header = payload.headers['content-length'];
    const declared = header === undefined ? undefined : Number(header);
    if (declared !== undefined && (!Number.isInteger(declared) || declared < 0)) {
      payload.resume();
      return reject(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    }
    if (declared !== undefined && declared > limit) {
      payload.resume();
      return reject(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    }
    const whole = declared !== undefined ? Buffer.allocUnsafeSlow(declared) : undefined;
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (err: Error | undefined, body?: Buffer) => {
      if (done) return;
      done = true;
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onError);
      if (err) {
        payload.resume();
        reject(err);
      } else resolve(body!);
    };
    const onData = (chunk: Buffer) => {
      const next = received + chunk.length;
      if (next > limit) return finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      if (whole) {
        if (next > whole.length) return finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
        chunk.copy(whole, received);
      } else {
        chunks.push(chunk);
      }
      received = next;
    };
    const onEnd = () => {
      if (whole) {
        if (received !== whole.length) return finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
        return finish(undefined, whole);
      }
      finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    // Also a client gone mid-body (Node emits 'error' with ECONNRESET): the promise settles.
    const onError = (err: Error) => finish(err);
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
  });
}
