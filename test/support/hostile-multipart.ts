/**
 * multipart/form-data bodies for images/edits, well-formed or broken on purpose: every byte of
 * the framing is written here (boundaries, part headers, terminator), so a test can leave any
 * piece out or get it wrong.
 */
import fc from 'fast-check';
import { tinyPng } from '../mock-google/images.js';

export const PNG = Buffer.from(tinyPng().base64, 'base64');
export const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xd9]);
export const TEXT_FILE = Buffer.from('#!/bin/sh\necho "not an image"\n');

export interface Part {
  name: string;
  /** Present: a file part. */
  filename?: string;
  contentType?: string;
  data: Buffer | string;
  /** Replaces the Content-Disposition line entirely ('' leaves the line out). */
  disposition?: string;
  /** Extra header lines, written as given. */
  extraHeaders?: readonly string[];
}

export interface FormOptions {
  /** Leave off the closing `--boundary--` (default false). */
  unterminated?: boolean;
  preamble?: string;
  epilogue?: string;
  /** Line break inside the framing (default CRLF; some clients send bare LF). */
  eol?: string;
}

export function formBody(boundary: string, parts: readonly Part[], opts: FormOptions = {}): Buffer {
  const eol = opts.eol ?? '\r\n';
  const out: Buffer[] = [];
  if (opts.preamble !== undefined) out.push(Buffer.from(opts.preamble + eol, 'latin1'));
  for (const p of parts) {
    const lines: string[] = [`--${boundary}`];
    const disposition = p.disposition ?? `Content-Disposition: form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    if (disposition !== '') lines.push(disposition);
    if (p.contentType !== undefined) lines.push(`Content-Type: ${p.contentType}`);
    lines.push(...(p.extraHeaders ?? []));
    out.push(Buffer.from(lines.join(eol) + eol + eol, 'latin1'), typeof p.data === 'string' ? Buffer.from(p.data, 'utf8') : p.data, Buffer.from(eol, 'latin1'));
  }
  if (!opts.unterminated) out.push(Buffer.from(`--${boundary}--${eol}`, 'latin1'));
  if (opts.epilogue !== undefined) out.push(Buffer.from(opts.epilogue, 'latin1'));
  return Buffer.concat(out);
}

export const prompt = (value = 'make it blue'): Part => ({ name: 'prompt', data: value });
export const model = (value: string): Part => ({ name: 'model', data: value });
/** A file part; `contentType` null leaves the part's Content-Type line out. */
export const pngFile = (name = 'image', contentType: string | null = 'image/png', data: Buffer = PNG): Part => ({
  name,
  filename: 'in.png',
  ...(contentType !== null ? { contentType } : {}),
  data,
});

/** Damage to a well-formed form: the fuzz case fast-check prints. */
export interface FormMutation {
  op: 'cut' | 'insert' | 'flip' | 'dupBoundary' | 'dropBytes';
  at: number;
  junk: string;
  len: number;
}

const FORM_JUNK = ['\r\n', '\n', '--', '\r\n--', '"', ';', '\x00', 'Content-Type: text/plain\r\n', '\r\n\r\n', 'filename="x"', '\xff\xfe', ' '];

export function formMutationArb(): fc.Arbitrary<FormMutation> {
  return fc.record({
    op: fc.constantFrom('cut', 'insert', 'flip', 'dupBoundary', 'dropBytes'),
    at: fc.nat({ max: 100_000 }),
    junk: fc.constantFrom(...FORM_JUNK),
    len: fc.integer({ min: 1, max: 40 }),
  });
}

export function mutateForm(body: Buffer, boundary: string, m: FormMutation): Buffer {
  const at = m.at % body.length;
  switch (m.op) {
    case 'cut':
      return body.subarray(0, at);
    case 'insert':
      return Buffer.concat([body.subarray(0, at), Buffer.from(m.junk, 'latin1'), body.subarray(at)]);
    case 'flip': {
      const copy = Buffer.from(body);
      for (let i = at; i < Math.min(copy.length, at + m.len); i++) copy[i] = copy[i]! ^ 0x20;
      return copy;
    }
    case 'dupBoundary':
      return Buffer.concat([body.subarray(0, at), Buffer.from(`\r\n--${boundary}\r\n`, 'latin1'), body.subarray(at)]);
    default:
      return Buffer.concat([body.subarray(0, at), body.subarray(at + m.len)]);
  }
}
