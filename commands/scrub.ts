// strata scrub: read every copy of every superblock, btree node and extent, and every stripe
// block, on every member, verify each on its own, and rewrite bad copies from good ones or
// rebuild bad stripe blocks from parity (not with -n). The report names damaged files, nodes
// and stripes; docs/scrub.md documents it and the --json document.
import type { CommandSpec } from '../cli/command.js';
import { formatBytes, type Output } from '../cli/output.js';
import type { CopyReport, FileRange, ScrubReport, StripeBlockReport } from '../repair/scrub-report.js';

interface ScrubFlags { dryRun?: boolean; metadataOnly?: boolean; json?: boolean }

/** Names shown per lost node or in the lost-files line before "and N more". */
const NAMES_SHOWN = 20;

function listNames(names: string[]): string {
  const shown = names.slice(0, NAMES_SHOWN).join(', ');
  return names.length > NAMES_SHOWN ? `${shown} and ${names.length - NAMES_SHOWN} more` : shown;
}

function printCopies(out: Output, copies: CopyReport[]): void {
  for (const c of copies) {
    if (c.state === 'good') continue;
    out.line(`  copy on member ${c.member}${c.path ? ` (${c.path})` : ''} at offset ${c.offset}: ${c.reason ?? 'bad'}: ${c.state === 'repaired' ? 'repaired' : `NOT repaired${c.note ? `: ${c.note}` : ''}`}`);
  }
}

function printBlocks(out: Output, blocks: StripeBlockReport[]): void {
  for (const b of blocks) {
    if (b.state === 'good') continue;
    out.line(`  block ${b.index} (${b.kind}) on member ${b.member}${b.path ? ` (${b.path})` : ''} at offset ${b.offset}: ${b.reason ?? 'bad'}: ${b.state === 'repaired' ? 'repaired' : `NOT repaired${b.note ? `: ${b.note}` : ''}`}`);
  }
}

function fileRangeText(f: FileRange): string {
  return `${f.paths.length ? f.paths.join(' = ') : `inode ${f.inode} (no path found)`} bytes ${f.start}..${f.end}`;
}

const STATUS_TEXT = { repaired: 'repaired', damaged: 'damaged, still readable', lost: 'LOST: no good copy' } as const;
const STRIPE_STATUS_TEXT = { repaired: 'repaired', damaged: 'damaged, still readable', lost: 'LOST in part: more blocks bad than it has parity' } as const;

function printReport(out: Output, r: ScrubReport): void {
  for (const m of r.members) {
    if (!m.problem) continue;
    // Copies that were not in the file at all are counted here rather than listed one by one.
    const n = m.copiesNotInFile;
    const copies = n === 0 ? '' : `; ${n} node and extent ${n === 1 ? 'copy' : 'copies'} not in the file${m.copiesNotInFileRepaired ? `, ${m.copiesNotInFileRepaired} rewritten` : ''}`;
    const b = m.stripeBlocksNotInFile;
    const blocks = b === 0 ? '' : `; ${b} stripe ${b === 1 ? 'block' : 'blocks'} not in the file${m.stripeBlocksNotInFileRepaired ? `, ${m.stripeBlocksNotInFileRepaired} rebuilt` : ''}`;
    out.line(`member ${m.index} (${m.path ?? `uuid ${m.uuid}`}): ${m.problem.text}${copies}${blocks}: ${m.problem.status}${m.problem.note ? ` (${m.problem.note})` : ''}`);
  }
  for (const s of r.superblocks) out.line(`superblock copy ${s.copy} of member ${s.member} (${s.path}) at offset ${s.offset}: ${s.reason}: ${s.status}${s.note ? ` (${s.note})` : ''}`);
  for (const n of r.nodes) {
    out.line(`btree ${n.btree} level ${n.level} node ${n.min}..${n.max}: ${STATUS_TEXT[n.status]}${n.subtreeNotScrubbed ? '; nodes and data below it were not scrubbed' : ''}`);
    if (n.affectedFiles.length) out.line(`  affects: ${listNames(n.affectedFiles)}`);
    printCopies(out, n.copies);
  }
  for (const s of r.stripes) {
    const parity = s.parity === 'mismatch' ? `; parity does not match data in ${s.parityMismatchChunks} chunk${s.parityMismatchChunks === 1 ? '' : 's'} where every block passes its checksum (nothing tells which block is wrong)` : '';
    out.line(`stripe ${s.id} (${s.dataBlocks}+${s.parityBlocks}): ${STRIPE_STATUS_TEXT[s.status]}${parity}`);
    if (s.files.length) out.line(`  holds: ${listNames(s.files.map(fileRangeText))}`);
    printBlocks(out, s.blocks);
  }
  for (const e of r.extents) {
    const files = e.files.map(fileRangeText);
    const what = e.reflink ? `shared extent reflink ${e.reflink.start}..${e.reflink.end}${files.length ? `, used by ${files.join(', ')}` : ''}` : `extent of ${files.join(', ')}`;
    out.line(`${what}: ${STATUS_TEXT[e.status]}`);
    printCopies(out, e.copies);
  }
  if (r.lost.files.length) out.line(`lost files: ${listNames(r.lost.files)}`);
  const t = r.totals;
  const left = r.dryRun ? `${t.repairable} repairable without -n, ${t.uncorrectable} uncorrectable` : `${t.uncorrectable} uncorrectable`;
  const stripes = t.stripesVerified ? ` and ${t.stripesVerified} stripes` : '';
  out.line(`scrub ${r.result}: ${formatBytes(t.bytesVerified)} verified in ${t.copiesVerified} copies${stripes}${r.metadataOnly ? ' (metadata only)' : ''}; ${t.errorsFound} errors found, ${t.corrected} corrected, ${left}${r.degraded ? '; image is degraded' : ''}`);
}

export const scrubCommand: CommandSpec = {
  name: 'scrub',
  summary: 'verify every checksum on every member and repair from good copies or parity',
  examples: ['strata scrub disk.img', 'strata scrub -n --json a.img:b.img', 'strata scrub --metadata-only disk.img'],
  configure(cmd, act) {
    cmd
      .argument('<image>', 'a member path, or member paths joined with ":"')
      .option('-n, --dry-run', 'verify and report only; write nothing')
      .option('--metadata-only', 'verify superblocks and btree nodes; skip file data')
      .option('--json', 'print one JSON document (docs/scrub.md)')
      .action((image: string, flags: ScrubFlags) => act(Boolean(flags.json), async (ctx) => {
        const { scrubImage } = await import('../repair/scrub.js');
        const report = await scrubImage(image, {
          dryRun: Boolean(flags.dryRun),
          metadataOnly: Boolean(flags.metadataOnly),
          signal: ctx.signal,
          onProgress: (done, total, errors) => ctx.out.progress('scrub', done, total, 'bytes', errors),
        });
        ctx.out.done(report.result === 'interrupted' ? 'interrupted' : 'completed');
        for (const w of report.warnings) ctx.out.warn(w);
        if (ctx.out.json) ctx.out.document({ version: 1, command: 'scrub', ...report });
        else printReport(ctx.out, report);
        return report.exitCode;
      }));
  },
};
