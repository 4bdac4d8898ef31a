import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { checkVertexCredentials } from '../../src/vertex/vertex-projects.js';
import { vertexBaseUrl } from '../../src/vertex/vertex-endpoint.js';
import { makeServiceAccount } from '../mock-google/vertex.js';

const withProjects = (projects: string) => `projects:\n${projects}\ntenants:\n  - { id: t, project: v1 }\n`;

function errorOf(text: string): string {
  try {
    parseConfig(text, {}, 'cfg');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('Vertex AI projects in the config (#17.3)', () => {
  it('reads a Vertex AI project with its credentials file, tier and limits, and no key', () => {
    const c = parseConfig(
      withProjects(`  - id: v1
    kind: vertex
    vertex: { project: my-gcp-project, location: us-central1, credentials: /etc/nanogate/sa.json }
    tier: tier2
    limits:
      gemini-3-pro-image: { rpm: 30 }`),
      {},
    );
    expect(c.projects[0]).toEqual({
      id: 'v1',
      kind: 'vertex',
      apiKey: '',
      vertex: { project: 'my-gcp-project', location: 'us-central1', credentials: '/etc/nanogate/sa.json' },
      tier: 'tier2',
      limits: { 'gemini-3-pro-image': { rpm: 30 } },
    });
  });

  it('takes Application Default Credentials when no credentials file is named, and the global location', () => {
    const c = parseConfig(withProjects('  - { id: v1, kind: vertex, vertex: { project: my-gcp-project, location: global } }'), {});
    expect(c.projects[0]!.vertex).toEqual({ project: 'my-gcp-project', location: 'global' });
  });

  it('keeps a config without kinds as it was: every project is a Gemini API project', () => {
    const c = parseConfig('projects: [{ id: default, apiKey: k }]', {});
    expect(c.projects[0]).toEqual({ id: 'default', kind: 'gemini', apiKey: 'k', tier: 'tier1' });
  });

  it('lets Gemini API and Vertex AI projects share a pool', () => {
    const c = parseConfig(
      `projects:
  - { id: g, apiKey: k }
  - { id: v1, kind: vertex, vertex: { project: my-gcp-project, location: europe-west4 } }
pools:
  - { id: mixed, projects: [{ project: v1 }, { project: g }] }
tenants:
  - { id: t, pool: mixed }
`,
      {},
    );
    expect(c.pools[0]!.projects.map((m) => m.project)).toEqual(['v1', 'g']);
  });

  it.each([
    ['  - { id: v1, kind: vertex }', 'projects[0].vertex: must be set for a Vertex AI project: { project, location, credentials? }'],
    ['  - { id: v1, kind: vertex, apiKey: k, vertex: { project: my-gcp-project, location: us-central1 } }', 'projects[0].apiKey: is not used by a Vertex AI project'],
    ['  - { id: v1, vertex: { project: my-gcp-project, location: us-central1 } }', 'projects[0].vertex: is for Vertex AI projects: add kind: vertex'],
    ['  - { id: v1, kind: bedrock, apiKey: k }', 'projects[0].kind: must be gemini (the Gemini API, with apiKey) or vertex (Vertex AI, with vertex:)'],
    ['  - { id: v1, kind: vertex, vertex: { project: My_Project, location: us-central1 } }', 'projects[0].vertex.project: must be a Google Cloud project id'],
    ['  - { id: v1, kind: vertex, vertex: { project: my-gcp-project, location: "us central" } }', 'projects[0].vertex.location: must be a Vertex AI location such as us-central1, europe-west4 or global'],
    ['  - { id: v1, kind: vertex, vertex: { project: my-gcp-project } }', 'projects[0].vertex.location: must be a Vertex AI location'],
    ['  - { id: v1, kind: vertex, vertex: { project: my-gcp-project, location: us-central1, credentials: "" } }', 'projects[0].vertex.credentials: must be the path of a service-account JSON key file (leave it out to use Application Default Credentials)'],
    ['  - { id: v1, kind: vertex, vertex: { project: my-gcp-project, location: us-central1, baseUrl: nope } }', 'projects[0].vertex.baseUrl: must be an http(s) URL'],
    ['  - { id: v1, kind: vertex, vertex: { project: my-gcp-project, location: us-central1, region: x } }', 'projects[0].vertex.region: unknown key'],
  ])('names the field of a bad Vertex AI project: %s', (project, message) => {
    expect(errorOf(withProjects(project))).toContain(message);
  });

  it("addresses Vertex AI's regional hosts, and the global endpoint's own", () => {
    expect(vertexBaseUrl('us-central1')).toBe('https://us-central1-aiplatform.googleapis.com');
    expect(vertexBaseUrl('global')).toBe('https://aiplatform.googleapis.com');
  });
});

describe('Vertex AI key files at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nanogate-vertex-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const config = (credentials: string) =>
    parseConfig(withProjects(`  - { id: v1, kind: vertex, vertex: { project: my-gcp-project, location: us-central1, credentials: "${credentials}" } }`), {});

  it('accepts a readable service-account key file', () => {
    const file = join(dir, 'sa.json');
    writeFileSync(file, JSON.stringify(makeServiceAccount('https://oauth2.googleapis.com/token').keyFile));
    expect(() => checkVertexCredentials(config(file))).not.toThrow();
  });

  it('stops the start naming the field and the file when the file is missing or not a key', () => {
    const missing = join(dir, 'missing.json');
    expect(() => checkVertexCredentials(config(missing))).toThrow(`config: projects[0].vertex.credentials: cannot read ${missing} (ENOENT)`);
    const user = join(dir, 'user.json');
    writeFileSync(user, '{"type":"authorized_user","client_id":"x"}');
    expect(() => checkVertexCredentials(config(user))).toThrow(`projects[0].vertex.credentials: ${user} is not a service-account key`);
  });
});
