import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { toGatewayError } from '../../errors/from-fastify.js';
import type { UploadedFile } from './edits-request.js';

export interface EditsFormLimits {
  /** One limit for the whole form: every file's bytes and every field's, counted as they arrive. */
  maxBytes: number;
  /** Image files allowed, given the fields read so far (the model may be named before its files). */
  maxFiles: (fields: Readonly<Record<string, string>>) => number;
}

export interface EditsForm {
  fields: Record<string, string>;
  files: UploadedFile[];
}

function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError('BODY_TOO_LARGE', `Request payload size exceeds the limit of ${maxBytes} bytes (all files and fields together).`);
}

/**
 * Reads a multipart edits request with a running total across all its parts, so a form of many
 * files each under the per-file limit cannot add up to more than the body limit, and nothing
 * past the limit is buffered: the part that crosses it is abandoned mid-stream. A form that is
 * not well-formed multipart is the client's error (400), and a client that leaves mid-upload is
 * no error of the gateway's.
 */
export async function readEditsForm(request: FastifyRequest, limits: EditsFormLimits): Promise<EditsForm> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes) throw tooLarge(limits.maxBytes);

  const fields: Record<string, string> = {};
  const files: UploadedFile[] = [];
  let total = 0;
  const count = (bytes: number) => {
    total += bytes;
    if (total > limits.maxBytes) throw tooLarge(limits.maxBytes);
  };
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const max = limits.maxFiles(fields);
        if (files.length >= max) {
          throw new GatewayError('INVALID_ARGUMENT', `Invalid 'image': too many files; at most ${max} images are accepted.`, { param: 'image' });
        }
        const chunks: Buffer[] = [];
        for await (const chunk of part.file) {
          count((chunk as Buffer).length);
          chunks.push(chunk as Buffer);
        }
        files.push({ fieldname: part.fieldname, mimeType: part.mimetype, data: Buffer.concat(chunks) });
      } else {
        const value = String(part.value);
        count(Buffer.byteLength(part.fieldname) + Buffer.byteLength(value));
        fields[part.fieldname] = value;
      }
    }
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    if (request.raw.destroyed || request.raw.readableAborted) {
      throw new GatewayError('INVALID_ARGUMENT', 'The client closed the connection during the upload.');
    }
    const known = toGatewayError(e);
    if (known.code !== 'INTERNAL') throw known;
    // busboy's own words ("Unexpected end of form", "Malformed part header") name the fault.
    throw new GatewayError('INVALID_ARGUMENT', `Malformed multipart/form-data body: ${(e as Error).message ?? 'unreadable'}.`);
  }
  return { fields, files };
}
