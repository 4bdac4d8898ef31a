import { readdirSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AnswerSpool } from '../../../src/faces/openai/answer-spool.js';
import { ResponseScanner } from '../../../src/gemini/response-scanner.js';

async function collect(it: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts).toString();
}

/** An answer as Google writes it, cut into chunks of `size` bytes. */
function answer(base64: string, size: number): Buffer[] {
  const body = Buffer.from(JSON.stringify({ candidates: [{ content: { parts: [{ inlineData: { mimeType: 'image/png', data: base64 } }] }, finishReason: 'STOP' }] }, null, 2));
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) chunks.push(body.subarray(i, i + size));
  return chunks;
}

async function spoolAndScan(chunks: Buffer[], spillAtBytes: number, dir: string) {
  const scanner = new ResponseScanner({ framing: 'json', captureImages: 'ranges' });
  const body = Readable.from(chunks);
  body.on('data', (c: Buffer) => scanner.write(c));
  body.pause();
  const spool = new AnswerSpool({ spillAtBytes, dir });
  await spool.consume(body);
  return { spool, summary: scanner.end() };
}

describe('answer spool', () => {
  const image = 'iVBORw0KGgo'.repeat(50_000) + 'AA==';

  it.each([
    ['in memory', 10_000_000],
    ['in a file', 64_000],
  ])('gives back the image bytes by range when the answer is kept %s', async (_where, spillAtBytes) => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-test-'));
    const { spool, summary } = await spoolAndScan(answer(image, 7_777), spillAtBytes, dir);
    expect(spool.spilled).toBe(spillAtBytes < image.length);
    const [found] = summary.images;
    expect(found?.base64).toEqual([]);
    expect(await collect(spool.read(found!.ranges!, found!.escaped))).toBe(image);
    await spool.dispose();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('decodes an image whose JSON string holds escapes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-test-'));
    const body = Buffer.from('{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"ab\\/cd=="}}]}}]}');
    const { spool, summary } = await spoolAndScan([body.subarray(0, 60), body.subarray(60)], 10, dir);
    const [found] = summary.images;
    expect(found?.escaped).toBe(true);
    expect(await collect(spool.read(found!.ranges!, true))).toBe('ab/cd==');
    await spool.dispose();
  });
});
