import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readBodyBuffer } from '../../src/http/body-buffer.js';

/** A request body stream with `headers`, fed `chunks` then ended (or failed with `error`). */
function payload(headers: Record<string, string>, chunks: Buffer[], error?: Error): IncomingMessage {
  const stream = new PassThrough();
  Object.assign(stream, { headers });
  setImmediate(() => {
    for (const c of chunks) stream.write(c);
    if (error) stream.destroy(error);
    else stream.end();
  });
  return stream as unknown as IncomingMessage;
}

const parts = [Buffer.from('{"contents":'), Buffer.from('[{"parts":[{"text":"hi"}]}]'), Buffer.from('}')];
const whole = Buffer.concat(parts);

describe('readBodyBuffer', () => {
  it('reads a body of the declared length into one Buffer of that length', async () => {
    const body = await readBodyBuffer(payload({ 'content-length': String(whole.length) }, parts), 1 << 20);
    expect(body.equals(whole)).toBe(true);
    expect(body.length).toBe(whole.length);
  });

  it('reads a chunked body (no length) whole', async () => {
    expect((await readBodyBuffer(payload({}, parts), 1 << 20)).equals(whole)).toBe(true);
  });

  it.each([
    ['shorter', whole.length + 5],
    ['longer', whole.length - 5],
  ])('refuses a body %s than its Content-Length with 400', async (_what, declared) => {
    await expect(readBodyBuffer(payload({ 'content-length': String(declared) }, parts), 1 << 20)).rejects.toMatchObject({ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', statusCode: 400 });
  });

  it('refuses a malformed Content-Length with 400', async () => {
    await expect(readBodyBuffer(payload({ 'content-length': '12abc' }, parts), 1 << 20)).rejects.toMatchObject({ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' });
  });

  it('refuses a body over the limit with 413, declared or not', async () => {
    await expect(readBodyBuffer(payload({ 'content-length': String(whole.length) }, parts), 10)).rejects.toMatchObject({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
    await expect(readBodyBuffer(payload({}, parts), 10)).rejects.toMatchObject({ code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
  });

  it('fails when the client goes away mid-body', async () => {
    const reset = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    await expect(readBodyBuffer(payload({ 'content-length': '1000' }, [parts[0]!], reset), 1 << 20)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });
});
