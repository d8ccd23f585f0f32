// strata fsck: replay the journal, check every structure of an image, repair what can be
// repaired (repair/fsck.ts). Human output follows e2fsck: a line per pass, a line per problem
// ending in the question and the answer, then a summary; --json prints one document
// (docs/fsck.md). Progress per pass goes to stderr. Exit codes per fsck(8): 0 clean, 1 all
// fixed, 4 problems left, 8 cannot check, 16 usage, 32 interrupted.
import type { CommandSpec, RunContext } from '../cli/command.js';
import { UsageError } from '../format/errors.js';
import type { FsckMode, FsckReport, ReportedProblem } from '../repair/fsck.js';

interface FsckFlags { readOnly?: boolean; yes?: boolean; preen?: boolean; force?: boolean; json?: boolean }

function modeOf(flags: FsckFlags): FsckMode {
  const chosen = [flags.readOnly && '-n', flags.yes && '-y', flags.preen && '-p'].filter(Boolean);
  if (chosen.length > 1) throw new UsageError(`${chosen.join(' and ')} exclude each other`, 'use one of -n (check only), -y (repair everything), -p (repair what is safe)');
  return flags.yes ? 'yes' : flags.preen ? 'preen' : 'check';
}

function problemLine(p: ReportedProblem): string {
  return `${p.code}: ${p.message}. ${p.fix}? ${p.fixed ? 'yes' : 'no'}`;
}

function summaryLines(image: string, r: FsckReport): string[] {
  const s = r.summary;
  const counts = `${s.inodes} inodes (${s.directories} directories, ${s.files} files), ${s.extents} extents, ${s.dirents} entries, ${s.nodes} btree nodes`;
  const lines = r.notes.map((n) => `${image}: note: ${n}`);
  if (s.modified) lines.push(`${image}: ***** IMAGE WAS MODIFIED *****`);
  if (s.result === 'interrupted') lines.push(`${image}: interrupted: ${s.found} problems found so far, ${s.fixed} fixed`);
  else if (s.found === 0) lines.push(`${image}: clean: ${counts}`);
  else lines.push(`${image}: ${s.found} problem${s.found === 1 ? '' : 's'} found, ${s.fixed} fixed, ${s.remaining} left: ${counts}`);
  return lines;
}

async function run(ctx: RunContext, image: string, flags: FsckFlags): Promise<number> {
  const mode = modeOf(flags);
  const { runFsck } = await import('../repair/fsck.js');
  const report = await runFsck(image, {
    mode,
    signal: ctx.signal,
    onProgress: (pass, done, total, problems) => ctx.out.progress(`fsck: ${pass}`, done, total, 'items', problems),
  });
  ctx.out.done(report.summary.result === 'interrupted' ? 'interrupted' : 'completed');
  if (ctx.out.json) {
    const { settled: _settled, ...doc } = report;
    ctx.out.document({ version: 1, command: 'fsck', image, ...doc });
    return report.summary.exitCode;
  }
  // Printed at the end, when every answer is final (-p may hold back fixes it first agreed to).
  for (const pass of report.passes) {
    if (mode !== 'preen') ctx.out.line(`Pass ${pass.pass}: ${pass.name}`);
    for (const p of report.problems) if (p.pass === pass.name) ctx.out.line(problemLine(p));
  }
  for (const p of report.problems) if (!report.passes.some((pass) => pass.name === p.pass)) ctx.out.line(problemLine(p));
  if (mode !== 'preen' || report.problems.length > 0 || report.notes.length > 0) ctx.out.line('');
  for (const line of summaryLines(image, report)) ctx.out.line(line);
  return report.summary.exitCode;
}

export const fsckCommand: CommandSpec = {
  name: 'fsck',
  summary: 'replay the journal, check every structure of an image and repair it',
  examples: ['strata fsck -n disk.img', 'strata fsck -y a.img:b.img', 'strata fsck -p disk.img', 'strata fsck -f --json disk.img > fsck.json'],
  configure(cmd, act) {
    cmd
      .argument('<image>', 'a member path, or member paths joined with ":"')
      .option('-n, --read-only', 'check only: answer no to every repair; never write a byte')
      .option('-y, --yes', 'repair everything that can be repaired')
      .option('-p, --preen', 'repair only what is safe without a human; exit 4 when anything else is found')
      .option('-f, --force', 'check even an image marked clean (always done: a full check is fast)')
      .option('--json', 'print one JSON document (docs/fsck.md)')
      .action((image: string, flags: FsckFlags) => act(Boolean(flags.json), (ctx) => run(ctx, image, flags)));
  },
};
