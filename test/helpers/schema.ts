/**
 * The published JSON Schemas (docs/schema/) and a validator for them (ajv):
 * every report a test produces is checked against its schema.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';

export const SCHEMAS = [
  'run',
  'mutants',
  'sweep',
  'soak-summary',
  'soak-stats-line',
  'soak-farm',
  'bench',
] as const;
export type SchemaName = (typeof SCHEMAS)[number];

export function readSchema(name: SchemaName): Record<string, unknown> {
  return JSON.parse(
    readFileSync(new URL(`../../docs/schema/${name}.schema.json`, import.meta.url), 'utf8'),
  );
}

// strict: a schema with a typo in a keyword fails to compile rather than accept everything
const ajv = new Ajv({ allErrors: true, strict: true });
const compiled = new Map<SchemaName, ReturnType<typeof ajv.compile>>();

/** The errors of `data` against the named schema, one per line ('' if valid). */
export function schemaErrors(name: SchemaName, data: unknown): string {
  let v = compiled.get(name);
  if (!v) {
    v = ajv.compile(readSchema(name));
    compiled.set(name, v);
  }
  if (v(data)) return '';
  return (v.errors ?? [])
    .slice(0, 10)
    .map((e) => `${name}${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)
    .join('\n');
}
