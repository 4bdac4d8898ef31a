import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AnswerSpool, SpoolMemory } from '../../../src/faces/openai/answer-spool.js';
import { buildImagesResponse } from '../../../src/faces/openai/images-response.js';
import { imagesResponseBody } from '../../../src/faces/openai/response-body.js';
import { ResponseScanner } from '../../../src/gemini/response-scanner.js';
import { tempDir } from '../../support/temp-dir.js';

/** Google's answer holding one image of `base64`, cut into 64 KiB chunks. */
function answer(base64: string): Buffer[] {
  const body = Buffer.from(JSON.stringify({ candidates: [{ content: { parts: [{ inlineData: { mimeType: 'image/png', data: base64 } }] }, finishReason: 'STOP' }] }));
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += 65_536) chunks.push(body.subarray(i, i + 65_536));
  return chunks;
}

async function spooled(base64: string, memoryBytes: number) {
  const chunks = answer(base64);
  const scanner = new ResponseScanner({ framing: 'json', captureImages: 'ranges' });
  for (const c of chunks) scanner.write(c);
  const spool = new AnswerSpool({ memory: new SpoolMemory(memoryBytes), dir: tempDir('response-body-') });
  await spool.consume(Readable.from(chunks));
  const built = buildImagesResponse([{ summary: scanner.end() }], 1_700_000_000, 0);
  return { spool, built };
}

async function text(body: Buffer | Readable): Promise<string> {
  if (Buffer.isBuffer(body)) return body.toString();
  const parts: Buffer[] = [];
  for await (const p of body) parts.push(p as Buffer);
  return Buffer.concat(parts).toString();
}

describe('images response body', () => {
  it('is one Buffer when the response is small and held in memory', async () => {
    const { spool, built } = await spooled('iVBORw0KGgo=', 1 << 30);
    const body = imagesResponseBody(built.chunks, () => spool);
    expect(Buffer.isBuffer(body)).toBe(true);
    expect(JSON.parse(await text(body)).data[0].b64_json).toBe('iVBORw0KGgo=');
    expect((body as Buffer).length).toBe(built.byteLength);
    await spool.dispose();
  });

  it.each([
    ['held in memory', 1 << 30],
    ['in a spool file', 0],
  ])('streams a large image %s whole and in order', async (_where, memoryBytes) => {
    const image = Buffer.alloc(3 << 20, 'QUJD').toString();
    const { spool, built } = await spooled(image, memoryBytes);
    expect(spool.spilled).toBe(memoryBytes === 0);
    const body = imagesResponseBody(built.chunks, () => spool);
    expect(Buffer.isBuffer(body)).toBe(false);
    const out = await text(body);
    expect(out.length).toBe(built.byteLength);
    expect(JSON.parse(out).data[0].b64_json).toBe(image);
    await spool.dispose();
  });

  it('fails the stream, without an unhandled error, when its spool is gone mid-read', async () => {
    const image = Buffer.alloc(3 << 20, 'QUJD').toString();
    const { spool, built } = await spooled(image, 0);
    const body = imagesResponseBody(built.chunks, () => spool) as Readable;
    await spool.dispose();
    await expect(text(body)).rejects.toThrow(/disposed/);
  });
});
