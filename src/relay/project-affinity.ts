/**
 * Multi-turn stays on one project (#17.5). Google keeps a Files API object in the project it was
 * uploaded to, and accepts a thought signature back only in the project that made it: a request
 * carrying either must be admitted on that project, never spilled to another, or refused.
 *
 * - A file's project is in the database (the upload's row); the face resolves it.
 * - A signature's project is remembered in the store by the relay as the answer that carries it
 *   passes (pools of two or more projects only), under the signature's digest.
 *
 * Which project a request is pinned to: its files' (a file exists in one project only, so files
 * of two projects cannot be served at all); without files, the project of the latest signature
 * the gateway knows (earlier turns' signatures normally name the same one). Signatures it does
 * not know (made before a pool had two projects, or forgotten after their time) pin nothing.
 */
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors/gateway-error.js';

/** A Files API object a request names, and the project it was uploaded to (db row). */
export interface PinnedFile {
  /** The gateway's name, `files/<id>`, as the tenant knows it. */
  name: string;
  projectId: string;
}

/** The project a call is pinned to, and what tied it there (the log line's `pinnedBy`). */
export interface Pin {
  projectId: string;
  by: 'file' | 'signature';
}

/** How long a pool remembers which project made a signature, by default (config `pools[].signatureTtlHours`). */
export const DEFAULT_SIGNATURE_TTL_MS = 7 * 24 * 3_600_000;

/**
 * The key a signature is remembered under: 128 bits of its SHA-256, base64url (22 characters).
 * A signature is opaque base64 of up to a few KB; a collision would need 2^64 signatures.
 */
export function signatureDigest(signature: string): string {
  return createHash('sha256').update(signature).digest('base64url').slice(0, 22);
}

/** Distinct digests of `signatures`, in order of last appearance (the latest last). */
export function signatureDigests(signatures: readonly string[]): string[] {
  const seen = new Map<string, true>();
  for (const s of signatures) {
    const d = signatureDigest(s);
    seen.delete(d);
    seen.set(d, true);
  }
  return [...seen.keys()];
}

/**
 * The pin files alone decide, or undefined without files. Files of two projects: refused, since
 * no project can read both.
 */
export function filePin(files: readonly PinnedFile[]): Pin | undefined {
  const first = files[0];
  if (!first) return undefined;
  const other = files.find((f) => f.projectId !== first.projectId);
  if (other) {
    throw new GatewayError(
      'INVALID_ARGUMENT',
      `This request names files of two Google projects (${first.name} in ${first.projectId}, ${other.name} in ${other.projectId}); Google lets a request read files of its own project only. Upload them again, then use the new ones together.`,
      { param: 'fileData.fileUri' },
    );
  }
  return { projectId: first.projectId, by: 'file' };
}

/** The project of the latest signature with a known project (`projects` in the digests' order), or undefined. */
export function signaturePin(projects: ReadonlyArray<string | undefined>): Pin | undefined {
  for (let i = projects.length - 1; i >= 0; i--) {
    const projectId = projects[i];
    if (projectId !== undefined) return { projectId, by: 'signature' };
  }
  return undefined;
}

/** A pin to a project this tenant's calls cannot reach (moved off it, or the pool changed): said plainly. */
export function unreachablePin(pin: Pin, files: readonly PinnedFile[], reaches: string): GatewayError {
  if (pin.by === 'file') {
    const file = files.find((f) => f.projectId === pin.projectId)!;
    return new GatewayError(
      'INVALID_ARGUMENT',
      `${file.name} was uploaded to project ${pin.projectId}, which your calls no longer go to (they go to ${reaches}); Google keeps a file in the project it was uploaded to. Upload it again and use the new one.`,
      { param: 'fileData.fileUri' },
    );
  }
  return new GatewayError(
    'INVALID_ARGUMENT',
    `The thought signatures in this request were made by project ${pin.projectId}, which your calls no longer go to (they go to ${reaches}); Google accepts a signature only in the project that made it. Start the conversation again, or send the earlier turns without their thoughtSignature.`,
    { param: 'contents' },
  );
}
