import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { filesApiNameOf, fileUrisOf, withGoogleFileUris, type FileReference } from '../../src/files/file-references.js';

const ID = '0123456789abcdef0123';

describe('filesApiNameOf: which fileData URIs name a Files API object', () => {
  it.each([
    [`files/${ID}`, `files/${ID}`],
    ['files/abc-123', 'files/abc-123'],
    // The gateway's own uri, on whatever host and path prefix the tenant reaches it by.
    [`http://127.0.0.1:8080/v1beta/files/${ID}`, `files/${ID}`],
    [`https://gateway.example.com/nanogate/v1/files/${ID}`, `files/${ID}`],
    [`https://gateway.example.com/v1beta/files/r${ID}`, `files/r${ID}`],
    // Google's, whatever the id: a name the gateway never accepts, so the caller hears of it.
    ['https://generativelanguage.googleapis.com/v1beta/files/abc123', 'files/abc123'],
    // Not Files API objects: passed to Google as they are.
    ['https://images.example.com/v1beta/files/cat', undefined],
    ['https://images.example.com/cat.png', undefined],
    ['gs://bucket/files/abc', undefined],
    ['https://www.youtube.com/watch?v=abc', undefined],
    [`https://gateway.example.com/v1beta/files/${ID}:download`, undefined],
    ['files/', undefined],
    ['files/a/b', undefined],
    ['not a uri', undefined],
  ])('%s -> %s', (uri, name) => {
    expect(filesApiNameOf(uri)).toBe(name);
  });
});

describe('fileUrisOf: the fileData URIs of a request', () => {
  it('reads contents and the system instruction, camelCase and snake_case, in order', () => {
    expect(
      fileUrisOf({
        contents: [
          { parts: [{ text: 'x' }, { fileData: { fileUri: 'a' } }, { file_data: { file_uri: 'b' } }] },
          { parts: [{ inlineData: { mimeType: 'image/png' } }, { fileData: { mimeType: 'image/png' } }] },
          null,
        ],
        system_instruction: { parts: [{ fileData: { fileUri: 'c' } }] },
      }),
    ).toEqual(['a', 'b', 'c']);
  });

  it.each([[undefined], [null], [[]], ['text'], [{ contents: 'x' }], [{ contents: [{ parts: 'x' }] }]])('finds none in %j', (request) => {
    expect(fileUrisOf(request)).toEqual([]);
  });
});

describe('withGoogleFileUris: Google URIs in place of the gateway names, every other byte as sent', () => {
  const ref = (uri: string, googleUri: string): FileReference => ({ uri, googleUri, name: `files/${ID}`, projectId: 'p' });
  const GOOGLE = 'https://generativelanguage.googleapis.com/v1beta/files/g1';

  it.each([
    ['camelCase, spaced as the client wrote it', `{ "contents": [ { "parts": [ {"fileData": {"mimeType":"image/png", "fileUri" : "files/${ID}"}} ] } ] }`, `{ "contents": [ { "parts": [ {"fileData": {"mimeType":"image/png", "fileUri" : "${GOOGLE}"}} ] } ] }`],
    ['snake_case', `{"contents":[{"parts":[{"file_data":{"file_uri":"files/${ID}"}}]}]}`, `{"contents":[{"parts":[{"file_data":{"file_uri":"${GOOGLE}"}}]}]}`],
    ['an escaped slash', `{"contents":[{"parts":[{"fileData":{"fileUri":"files\\/${ID}"}}]}]}`, `{"contents":[{"parts":[{"fileData":{"fileUri":"${GOOGLE}"}}]}]}`],
    ['the same file twice', `{"contents":[{"parts":[{"fileData":{"fileUri":"files/${ID}"}},{"fileData":{"fileUri":"files/${ID}"}}]}]}`, `{"contents":[{"parts":[{"fileData":{"fileUri":"${GOOGLE}"}},{"fileData":{"fileUri":"${GOOGLE}"}}]}]}`],
    // The same string elsewhere (a prompt, a fileUri outside fileData) is not a file reference.
    ['only fileData.fileUri', `{"contents":[{"parts":[{"text":"files/${ID}"},{"fileUri":"files/${ID}"}]}]}`, `{"contents":[{"parts":[{"text":"files/${ID}"},{"fileUri":"files/${ID}"}]}]}`],
  ])('%s', (_name, body, expected) => {
    const out = withGoogleFileUris(Buffer.from(body), [ref(`files/${ID}`, GOOGLE)]);
    expect(out.toString()).toBe(expected);
    expect(JSON.parse(out.toString())).toBeTruthy();
  });

  it('swaps each reference for its own URI, leaves other URIs, and copies image data as it is', () => {
    const image = 'iVBORw0KGgo'.repeat(200_000);
    const body = JSON.stringify({
      contents: [{ parts: [{ inlineData: { mimeType: 'image/png', data: image } }, { fileData: { fileUri: 'http://gw:8080/v1beta/files/x' } }, { fileData: { fileUri: 'gs://b/c' } }, { fileData: { fileUri: 'files/y' } }] }],
    });
    const out = JSON.parse(withGoogleFileUris(Buffer.from(body), [ref('files/y', 'G-Y'), ref('http://gw:8080/v1beta/files/x', 'G-X')]).toString());
    expect(out.contents[0].parts.map((p: { fileData?: { fileUri: string } }) => p.fileData?.fileUri)).toEqual([undefined, 'G-X', 'gs://b/c', 'G-Y']);
    expect(out.contents[0].parts[0].inlineData.data).toBe(image);
  });

  it('returns the very body when there is nothing to swap', () => {
    const body = Buffer.from('{"contents":[{"parts":[{"text":"x"}]}]}');
    expect(withGoogleFileUris(body, [])).toBe(body);
    expect(withGoogleFileUris(body, [ref('files/y', 'G')])).toBe(body);
  });

  it('refuses a body that is not JSON', () => {
    expect(() => withGoogleFileUris(Buffer.from('{"contents": ['), [ref('files/y', 'G')])).toThrow(GatewayError);
  });
});
