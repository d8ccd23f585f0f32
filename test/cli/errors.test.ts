// Errors reach the user as one line, `strata: <what and where> (hint: <next step>)`, with the
// exit code of the fsck(8) convention; usage errors are 16; stacks only with STRATA_DEBUG=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { strata, tempDir, isOneLineError } from '../helpers/cli.js';
import { describeError, errorReport, commanderErrorReport } from '../../cli/main.js';
import { CorruptImageError, OperationalError, UsageError } from '../../format/errors.js';

test('a typo in a command suggests the nearest one and exits 16', () => {
  const r = strata(['mkfz', 'disk.img']);
  assert.equal(r.code, 16);
  assert.equal(r.stderr, "strata: unknown command 'mkfz' (hint: did you mean mkfs?)\n");
  assert.equal(r.stdout, '');
});

test('a typo in a dump subcommand suggests the nearest one and names the command', () => {
  const r = strata(['dump', 'supr', 'disk.img']);
  assert.equal(r.code, 16);
  assert.equal(r.stderr, "strata: dump: unknown command 'supr' (hint: did you mean super?)\n");
});

test('a command nothing resembles points to the list of commands', () => {
  const r = strata(['frobnicate']);
  assert.equal(r.code, 16);
  assert.equal(r.stderr, `strata: unknown command 'frobnicate' (hint: "strata --help" lists the commands)\n`);
});

test('a typo in an option suggests the nearest option', () => {
  const r = strata(['dump', 'super', '--jsn', 'disk.img']);
  assert.equal(r.code, 16);
  assert.equal(r.stderr, "strata: dump super: unknown option '--jsn' (hint: did you mean --json?)\n");
});

test('a missing argument is a usage error that shows the usage', () => {
  const r = strata(['dump', 'super']);
  assert.equal(r.code, 16);
  assert.equal(r.stderr, "strata: dump super: missing required argument 'image' (hint: usage: strata dump super [options] <image>)\n");
});

test('too many arguments is a usage error on one line', () => {
  const r = strata(['dump', 'super', 'a.img', 'b.img']);
  assert.equal(r.code, 16);
  assert.equal(r.stderr, 'strata: dump super: too many arguments: expected 1, got 2 (hint: usage: strata dump super [options] <image>)\n');
});

test('a bad option value is a usage error on one line', () => {
  const dir = tempDir();
  const r = strata(['mkfs', '--size', '12Q', path.join(dir, 'x.img')]);
  assert.equal(r.code, 16);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.match(r.stderr, /^strata: --size: "12Q" is not a size/);
});

test('strata with no command shows the help on stderr and exits 16', () => {
  const r = strata([]);
  assert.equal(r.code, 16);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^Usage: strata <command> \[options\]/);
});

test('a command group without its subcommand shows its help and exits 16', () => {
  const r = strata(['dump']);
  assert.equal(r.code, 16);
  assert.match(r.stderr, /^Usage: strata dump/);
});

test('an error the image is at fault for names where, on one line, with no stack', () => {
  const dir = tempDir();
  const p = path.join(dir, 'plain');
  fs.writeFileSync(p, Buffer.alloc(1 << 20, 0x41));
  const r = strata(['dump', 'super', p]);
  assert.equal(r.code, 8);
  assert.ok(isOneLineError(r.stderr), r.stderr);
  assert.ok(r.stderr.includes(p), r.stderr);
});

test('STRATA_DEBUG=1 adds the stack trace after the line', () => {
  const r = strata(['dump', 'super', '/nonexistent/strata.img'], { env: { STRATA_DEBUG: '1' } });
  assert.equal(r.code, 8);
  const [first, ...rest] = r.stderr.trimEnd().split('\n');
  assert.equal(first, 'strata: /nonexistent/strata.img: No such file or directory');
  assert.ok(rest.some((l) => /^\s+at /.test(l)), r.stderr);
});

test('an unknown error is one line naming it an internal error, with a hint to get the stack', () => {
  const { line, code } = describeError(new TypeError('cannot read "x"\nof undefined'), false);
  assert.equal(code, 8);
  assert.equal(line, 'strata: internal error: TypeError: cannot read "x" of undefined (hint: run again with STRATA_DEBUG=1 for a stack trace, and report it)');
  const debug = describeError(new TypeError('boom'), true);
  assert.match(debug.line, /^strata: internal error: TypeError: boom\nTypeError: boom\n\s+at /);
  assert.equal(describeError('a string was thrown', false).line.split('\n').length, 1);
});

test('a strata error prints its message and its hint; the exit code is its own', () => {
  assert.deepEqual(describeError(new OperationalError('EIO', 'a.img: read failed', 'run strata scrub'), false), { line: 'strata: a.img: read failed (hint: run strata scrub)', code: 8 });
  assert.deepEqual(describeError(new UsageError('--ec: bad'), false), { line: 'strata: --ec: bad', code: 16 });
  const corrupt = new CorruptImageError('bad magic', { member: 'a.img', offset: 4096, structure: 'superblock copy 0' }, 'run strata fsck -y');
  assert.equal(describeError(corrupt, false).line, 'strata: a.img, offset 4096, superblock copy 0: bad magic (hint: run strata fsck -y)');
});

test('system errors read like coreutils and are operational errors', () => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x/y'"), { code: 'ENOENT', syscall: 'open', path: '/x/y', errno: -2 });
  assert.deepEqual(describeError(enoent, false), { line: 'strata: /x/y: No such file or directory', code: 8 });
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write', errno: -28 });
  const report = errorReport(enospc, false);
  assert.equal(report.message, 'No space left on device');
  assert.equal(report.code, 8);
  assert.ok(report.hint);
});

test('commander messages are reshaped into the one-line form', () => {
  assert.deepEqual(commanderErrorReport("error: unknown command 'mkfz'\n(Did you mean mkfs?)\n", '', '<command> [options]'), { message: "unknown command 'mkfz'", hint: 'did you mean mkfs?' });
  assert.deepEqual(commanderErrorReport("error: unknown option '--x'\n(Did you mean one of --xa, --xb?)\n", 'mkfs', '[options] <member...>'), { message: "mkfs: unknown option '--x'", hint: 'did you mean one of --xa, --xb?' });
});

test('a reader that goes away (strata --help | head) ends the command quietly with exit 0', async () => {
  const { spawn } = await import('node:child_process');
  const { STRATA } = await import('../helpers/cli.js');
  for (const args of [['--help'], ['dump', '--help']]) {
    const child = spawn(process.execPath, [STRATA, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before the child writes anything: its first write fails with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(stderr, '', args.join(' '));
    assert.equal(code, 0, args.join(' '));
  }
});
