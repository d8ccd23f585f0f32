// Validating the JSON documents the CLI prints against their schemas in docs/schemas/.
// Any test that runs a command with --json should pass its parsed output through validateJson:
//
//   const doc = JSON.parse(strata(['dump', 'super', '--json', img]).stdout);
//   assert.deepEqual(validateJson('dump super', doc), []);
//
// A new --json document needs docs/schemas/<command with spaces as dashes>.schema.json.
import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { REPO } from '../helpers/cli.js';

export const SCHEMA_DIR = path.join(REPO, 'docs', 'schemas');

/** "dump super" -> "dump-super", the schema file's stem. */
export function schemaName(command: string): string {
  return command.trim().split(/[\s-]+/).join('-');
}

export function schemaPath(command: string): string {
  return path.join(SCHEMA_DIR, `${schemaName(command)}.schema.json`);
}

/** Every schema, compiled once when this module loads; the map is never changed afterwards. */
const VALIDATORS: ReadonlyMap<string, ValidateFunction> = (() => {
  // strict: a schema with a typo in a keyword fails to compile instead of validating nothing.
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  const validators = new Map<string, ValidateFunction>();
  for (const file of fs.readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json')).sort()) {
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, file), 'utf8')) as object;
    validators.set(file.slice(0, -'.schema.json'.length), ajv.compile(schema));
  }
  return validators;
})();

/** The commands that have a schema, as typed: "mkfs", "dump super", ... */
export function schemaCommands(): string[] {
  return [...VALIDATORS.keys()].map((name) => name.replace(/-/g, ' '));
}

/**
 * Validates one parsed --json document against the schema of `command` ("mkfs", "dump super",
 * or "dump-super"). Returns the problems, one readable line each; empty when the document is valid.
 */
export function validateJson(command: string, doc: unknown): string[] {
  const validate = VALIDATORS.get(schemaName(command));
  if (!validate) return [`no schema for "${command}": expected ${path.relative(REPO, schemaPath(command))}`];
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => {
    const where = e.instancePath || '(document)';
    const extra = e.keyword === 'additionalProperties' ? ` "${String((e.params as { additionalProperty?: string }).additionalProperty)}"` : '';
    const allowed = e.keyword === 'const' ? ` ${JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue)}` : '';
    return `${where}: ${e.message ?? e.keyword}${extra}${allowed}`;
  });
}
