// The OpenAPI document: built from the catalogue, and docs/openapi.json is an exact copy.
// Regenerate the copy with: UPDATE_OPENAPI=1 npx vitest run test/unit/api-openapi.test.ts
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { METHODS } from '../../src/api/catalog.js';
import { buildOpenApiDocument } from '../../src/api/openapi.js';

const docsFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/openapi.json');

describe('OpenAPI document', () => {
  const doc = buildOpenApiDocument() as any;

  it('describes every method as POST /api/v1/<name> with its parameters, access and errors', () => {
    expect(doc.openapi).toMatch(/^3\.0\./);
    for (const method of METHODS) {
      const op = doc.paths[`/api/v1/${method.name}`]?.post;
      expect(op, method.name).toBeDefined();
      expect(op.operationId).toBe(method.name);
      expect(op['x-access']).toBe(method.access);
      const schema = op.requestBody.content['application/json'].schema;
      expect(Object.keys(schema.properties)).toEqual(method.params.map((p) => p.name));
      expect(schema.required ?? []).toEqual(method.params.filter((p) => p.required).map((p) => p.name));
      expect(op.responses['200']).toBeDefined();
      expect(op.responses['400'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
      if (method.access === 'superuser') expect(op.responses['403']).toBeDefined();
      if (method.async) expect(op['x-request-result'].$ref).toBe(`#/components/schemas/${method.resultSchema}`);
    }
    expect(doc.paths['/api/v1/server.getServerInfo'].get).toBeDefined();
    expect(doc.paths['/api/v1/openapi.json'].get).toBeDefined();
    const events = doc.paths['/api/v1/events'].get;
    expect(events['x-access']).toBe('session');
    expect(events.responses['200'].content['text/event-stream'].schema.oneOf).toEqual([
      { $ref: '#/components/schemas/TransferEvent' },
      { $ref: '#/components/schemas/ProgressEvent' },
    ]);
    expect(doc.components.schemas.TransferEvent.properties.type.enum).toEqual([
      'transferStarted',
      'fileComplete',
      'transferComplete',
      'transferFailed',
      'transferCancelled',
    ]);
  });

  it('only references schemas it defines', () => {
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/[A-Za-z]+/g) ?? [];
    for (const ref of new Set(refs)) expect(doc.components.schemas[ref.split('/').pop() as string], ref).toBeDefined();
  });

  it('docs/openapi.json is identical to the built document', () => {
    const built = `${JSON.stringify(doc, null, 2)}\n`;
    if (process.env.UPDATE_OPENAPI === '1') writeFileSync(docsFile, built);
    expect(
      readFileSync(docsFile, 'utf8'),
      'docs/openapi.json is stale: run UPDATE_OPENAPI=1 npx vitest run test/unit/api-openapi.test.ts',
    ).toBe(built);
  });
});
