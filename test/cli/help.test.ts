// Help, version and the CLI reference: every command explains itself with an example, and
// docs/cli.md covers every command and option the program accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { strata, REPO } from '../helpers/cli.js';
import { buildProgram, VERSION } from '../../cli/main.js';
import { COMMANDS } from '../../commands/index.js';

/** The program's command tree as commander sees it, without running anything. */
function program(): Command {
  return buildProgram(COMMANDS, async () => {}, {});
}

/** "mkfs", "dump", "dump super", ...: every command path below the program, help excluded. */
function commandPaths(cmd: Command = program(), prefix: string[] = []): string[][] {
  return cmd.commands.filter((c) => c.name() !== 'help').flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

function findCommand(names: string[]): Command {
  let cmd = program();
  for (const name of names) cmd = cmd.commands.find((c) => c.name() === name)!;
  return cmd;
}

const CLI_DOC = path.join(REPO, 'docs', 'cli.md');

test('strata --help lists every command on one line each, and the exit codes', () => {
  const r = strata(['--help']);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  for (const spec of COMMANDS) {
    const line = r.stdout.split('\n').find((l) => new RegExp(`^  ${spec.name}\\b`).test(l));
    assert.ok(line, `${spec.name} is listed`);
    assert.ok(line.includes(spec.summary.split(' ').slice(0, 3).join(' ')), line);
  }
  for (const code of ['0', '1', '4', '8', '16', '32']) assert.match(r.stdout, new RegExp(`^  ${code}\\s+\\S`, 'm'), `exit code ${code}`);
  for (const name of ['NO_COLOR', 'FORCE_COLOR', 'CI', 'STRATA_DEBUG', 'SOURCE_DATE_EPOCH']) assert.match(r.stdout, new RegExp(`\\b${name}\\b`));
});

test('strata --version prints the version of package.json', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
  for (const flag of ['--version', '-V']) {
    const r = strata([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${pkg.version}\n`);
  }
});

test('strata help <command> and <command> --help print the same help, exit 0', () => {
  const a = strata(['help', 'mkfs']);
  const b = strata(['mkfs', '--help']);
  assert.equal(a.code, 0);
  assert.equal(b.code, 0);
  assert.equal(a.stdout, b.stdout);
});

test('the help of every command shows an example of it', () => {
  for (const spec of COMMANDS) {
    const r = strata([spec.name, '--help']);
    assert.equal(r.code, 0, `${spec.name}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`\\nExamples:\\n  \\$ (\\S+=\\S+ )*strata ${spec.name}\\b`), `${spec.name} --help:\n${r.stdout}`);
  }
});

test('a dump subcommand whose example the dump command lists shows it in its own help', () => {
  const r = strata(['dump', 'super', '--help']);
  assert.match(r.stdout, /\nExamples:\n  \$ strata dump super \S+\n/);
  const ls = strata(['dump', 'ls', '--help']);
  assert.match(ls.stdout, /\nExamples:\n  \$ strata dump ls -R /);
});

const withoutExample = commandPaths().filter((p) => p.length > 1 && !strata([...p, '--help']).stdout.includes('\nExamples:\n'));
test('the help of every subcommand shows an example of it', { todo: withoutExample.length > 0 && `no example yet for: ${withoutExample.map((p) => p.join(' ')).join(', ')} (commands/<name>.ts examples)` }, () => {
  assert.equal(withoutExample.map((p) => p.join(' ')).join(', '), '');
});

/** The text under the heading "strata <names>", up to the next heading. */
function docSection(doc: string, names: string[]): string | undefined {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^#{2,4} strata ${names.join(' ')}$`).test(l));
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && l.startsWith('#'));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

test('docs/cli.md has a section for every command, naming every option it accepts', () => {
  const doc = fs.readFileSync(CLI_DOC, 'utf8');
  const missing: string[] = [];
  for (const names of commandPaths()) {
    const section = docSection(doc, names);
    if (section === undefined) {
      missing.push(`section "strata ${names.join(' ')}"`);
      continue;
    }
    for (const option of findCommand(names).options) {
      const flags = [option.long, option.short].filter((f): f is string => f !== undefined);
      if (!flags.some((f) => section.includes(`\`${f}`) || section.includes(` ${f} `) || section.includes(`[${f}`))) missing.push(`strata ${names.join(' ')} ${flags.join(', ')}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('docs/cli.md covers the whole CLI contract, commands still in progress included, and the environment', () => {
  const doc = fs.readFileSync(CLI_DOC, 'utf8');
  for (const name of ['mkfs', 'fsck', 'scrub', 'dump', 'put', 'rm', 'mkdir', 'mv', 'ln', 'cp']) assert.match(doc, new RegExp(`^#+ .*strata ${name}\\b`, 'm'), `a section for ${name}`);
  for (const name of ['NO_COLOR', 'FORCE_COLOR', 'CI', 'STRATA_DEBUG', 'SOURCE_DATE_EPOCH']) assert.ok(doc.includes(name), name);
  for (const code of ['| 0 ', '| 1 ', '| 4 ', '| 8 ', '| 16 ', '| 32 ']) assert.ok(doc.includes(code), `exit code row ${code}`);
  for (const file of fs.readdirSync(path.join(REPO, 'docs', 'schemas'))) assert.ok(doc.includes(file), `docs/cli.md links ${file}`);
});
