import fc from 'fast-check';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { renamingStream } from '../../src/batch/operation-rename.js';

async function run(chunks: Buffer[], renames: Record<string, string>): Promise<Buffer> {
  const out: Buffer[] = [];
  const stream = Readable.from(chunks).pipe(renamingStream(renames));
  for await (const c of stream) out.push(c as Buffer);
  return Buffer.concat(out);
}

function splitAt(body: Buffer, cuts: number[]): Buffer[] {
  const sorted = [...new Set(cuts)].filter((c) => c > 0 && c < body.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...sorted, body.length]) {
    out.push(body.subarray(from, cut));
    from = cut;
  }
  return out;
}

const IMAGE = 'iVBOR' + 'Q'.repeat(20_000);
const operation = {
  name: 'batches/google-123',
  metadata: {
    '@type': 'type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch',
    model: 'models/gemini-3-pro-image',
    displayName: 'nanogate:0123456789abcdef0123',
    output: { inlinedResponses: { inlinedResponses: [{ response: { candidates: [{ content: { parts: [{ inlineData: { mimeType: 'image/png', data: IMAGE } }] } }] }, metadata: { name: 'not-renamed' } }] } },
    state: 'BATCH_STATE_SUCCEEDED',
    name: 'batches/google-123',
  },
  done: true,
};
const renames = { name: 'batches/0123456789abcdef0123', 'metadata.name': 'batches/0123456789abcdef0123', 'metadata.displayName': 'my "posters" é' };

describe("relaying Google's operation under the gateway's names", () => {
  it('replaces exactly the named strings and leaves every other byte as Google sent it, whatever the chunking', async () => {
    const body = Buffer.from(JSON.stringify(operation, null, 2));
    const expected = JSON.stringify({ ...operation, name: renames.name, metadata: { ...operation.metadata, displayName: renames['metadata.displayName'], name: renames['metadata.name'] } }, null, 2);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: body.length }), { maxLength: 20 }), async (cuts) => {
        const out = await run(splitAt(body, cuts), renames);
        expect(out.toString()).toBe(expected);
      }),
      { numRuns: 150 },
    );
  });

  it('hands a malformed answer on unchanged', async () => {
    const body = Buffer.from('{"name": "batches/g", "metadata": {oops');
    expect((await run([body], renames)).toString()).toBe('{"name": "batches/0123456789abcdef0123", "metadata": {oops');
  });
});
