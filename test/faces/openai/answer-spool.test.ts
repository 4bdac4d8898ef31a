import { openSync, readdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { AnswerSpool, AnswerSpools, SpoolDiskError, SpoolDisposedError, SpoolMemory, SpoolSourceError } from '../../../src/faces/openai/answer-spool.js';
import { ResponseScanner } from '../../../src/gemini/response-scanner.js';
import { tempDir } from '../../support/temp-dir.js';

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

/** A memory limit of `bytes` for one spool; answers up to 256 KB stay in memory whatever it is. */
const limit = (bytes: number) => ({ memory: new SpoolMemory(bytes) });

async function spoolAndScan(chunks: Buffer[], memoryBytes: number, dir: string) {
  // Always tokenized: these tests are about images the spool gives back by byte range.
  const scanner = new ResponseScanner({ framing: 'json', captureImages: 'ranges', smallDocumentBytes: 0 });
  const body = Readable.from(chunks);
  body.on('data', (c: Buffer) => scanner.write(c));
  body.pause();
  const spool = new AnswerSpool({ ...limit(memoryBytes), dir });
  await spool.consume(body);
  return { spool, summary: scanner.end() };
}

describe('answer spool', () => {
  const image = 'iVBORw0KGgo'.repeat(50_000) + 'AA==';

  it.each([
    ['in memory', 10_000_000],
    ['in a file', 64_000],
  ])('gives back the image bytes by range when the answer is kept %s', async (_where, memoryBytes) => {
    const dir = tempDir('spool-test-');
    const { spool, summary } = await spoolAndScan(answer(image, 7_777), memoryBytes, dir);
    expect(spool.spilled).toBe(memoryBytes < image.length);
    // The spool file is unlinked as soon as it is open: nothing named is ever left behind.
    expect(readdirSync(dir)).toEqual([]);
    const [found] = summary.images;
    expect(found?.base64).toEqual([]);
    expect(await collect(spool.read(found!.ranges!, found!.escaped))).toBe(image);
    await spool.dispose();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('decodes an image whose JSON string holds escapes', async () => {
    const dir = tempDir('spool-test-');
    const body = Buffer.from('{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"ab\\/cd=="}}]}}]}');
    const { spool, summary } = await spoolAndScan([body.subarray(0, 60), body.subarray(60)], 0, dir);
    const [found] = summary.images;
    expect(found?.escaped).toBe(true);
    expect(await collect(spool.read(found!.ranges!, true))).toBe('ab/cd==');
    await spool.dispose();
  });

  /** A body that yields `chunks`, then fails as a connection reset by Google does. */
  function breakingBody(chunks: Buffer[]): Readable {
    return Readable.from(
      (async function* () {
        for (const c of chunks) yield c;
        throw Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
      })(),
    );
  }

  it('reports a body that breaks off after spilling as a source error and leaves no folder behind', async () => {
    const dir = tempDir('spool-test-');
    const spool = new AnswerSpool({ ...limit(1_000), dir });
    const chunks = answer(image, 64 * 1024).slice(0, 8);
    await expect(spool.consume(breakingBody(chunks))).rejects.toBeInstanceOf(SpoolSourceError);
    expect(spool.spilled).toBe(true);
    await spool.dispose();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('stops filling, without an unhandled error, when disposed while the file is being written', async () => {
    const dir = tempDir('spool-test-');
    const spool = new AnswerSpool({ ...limit(1_000), dir });
    let sent = 0;
    const body = new Readable({
      read() {
        sent++;
        // Dispose half way, as a client leaving does, while chunks keep coming.
        if (sent === 5) void spool.dispose();
        this.push(sent < 200 ? Buffer.alloc(256 * 1024, 65) : null);
      },
    });
    await expect(spool.consume(body)).rejects.toBeInstanceOf(SpoolDisposedError);
    await spool.dispose();
    expect(body.destroyed).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('disposes cleanly before, during and after a spill, any number of times', async () => {
    for (const at of [0, 1, 3, 50]) {
      const dir = tempDir('spool-test-');
      const spool = new AnswerSpool({ ...limit(10_000), dir });
      let n = 0;
      const body = new Readable({
        read() {
          if (n++ === at) void spool.dispose();
          this.push(n < 60 ? Buffer.alloc(8_192, 66) : null);
        },
      });
      await spool.consume(body).catch(() => {});
      await Promise.all([spool.dispose(), spool.dispose()]);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it('reports a full disk as a disk error of its own, not as a broken answer', async () => {
    const dir = tempDir('spool-test-');
    // /dev/full refuses every write with ENOSPC, as a full disk does.
    const spool = new AnswerSpool({ ...limit(1_000), dir, openFile: async () => openSync('/dev/full', 'w') });
    const err = await spool.consume(Readable.from(answer(image, 64 * 1024))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpoolDiskError);
    expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
    await spool.dispose();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('shares one memory limit between the spools of the process and gives it back on dispose', async () => {
    const dir = tempDir('spool-test-');
    const memory = new SpoolMemory(1_000_000);
    const body = answer(image, 64 * 1024);
    const first = new AnswerSpool({ memory, dir });
    await first.consume(Readable.from(body));
    expect(first.spilled).toBe(false);
    expect(memory.heldBytes).toBe(Buffer.concat(body).length);
    // The second would cross the limit: it moves to a file, and holds nothing in memory.
    const second = new AnswerSpool({ memory, dir });
    await second.consume(Readable.from(body));
    expect(second.spilled).toBe(true);
    expect(memory.heldBytes).toBe(Buffer.concat(body).length);
    await first.dispose();
    expect(memory.heldBytes).toBe(0);
    const third = new AnswerSpool({ memory, dir });
    await third.consume(Readable.from(body));
    expect(third.spilled).toBe(false);
    await Promise.all([second.dispose(), third.dispose()]);
    expect(memory.heldBytes).toBe(0);
  });

  it('keeps a small answer in memory even when the limit is taken', async () => {
    const memory = new SpoolMemory(0);
    const spool = new AnswerSpool({ memory, dir: '/nonexistent/never-used' });
    await spool.consume(Readable.from([Buffer.from('{"candidates":[]}')]));
    expect(spool.spilled).toBe(false);
    await spool.dispose();
    expect(memory.heldBytes).toBe(0);
  });

  it('reports a spool file that cannot be created as a disk error', async () => {
    const spool = new AnswerSpool({ ...limit(1_000), dir: '/nonexistent/spool-parent' });
    await expect(spool.consume(Readable.from(answer(image, 64 * 1024)))).rejects.toBeInstanceOf(SpoolDiskError);
    await spool.dispose();
  });
});

describe('answer spools of a face', () => {
  it("disposes a response's spools when it closes, with one listener however many it opened", async () => {
    const spools = new AnswerSpools(1_000_000, tempDir('spools-test-'));
    const response = Object.assign(new EventEmitter(), { closed: false });
    const opened = Array.from({ length: 12 }, () => spools.open(response));
    expect(response.listenerCount('close')).toBe(1);
    for (const spool of opened) await spool.consume(Readable.from([Buffer.alloc(1000, 65)]));
    expect(spools.memory.heldBytes).toBe(12_000);
    response.closed = true;
    response.emit('close');
    await new Promise((resolve) => setImmediate(resolve));
    expect(spools.memory.heldBytes).toBe(0);
    // A spool opened for a response already closed (its client left) is disposed at once.
    const late = spools.open(response);
    await expect(late.consume(Readable.from([Buffer.alloc(10)]))).rejects.toBeInstanceOf(SpoolDisposedError);
  });
});
