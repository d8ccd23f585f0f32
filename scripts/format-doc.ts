// Regenerates the structure tables in docs/FORMAT.md from format/layout.ts. Each table sits
// between `<!-- table:NAME -->` and `<!-- /table -->`; prose around them is left alone.
// `--check` exits 1 when the document differs from what would be generated.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALL_STRUCTS } from '../format/layout.js';

export function renderFormatDoc(text: string): string {
  return text.replace(/<!-- table:([a-z_]+) -->[\s\S]*?<!-- \/table -->/g, (_m, name: string) => {
    const s = ALL_STRUCTS.find((x) => x.name === name);
    if (!s) throw new Error(`docs/FORMAT.md names unknown structure ${name}`);
    return `<!-- table:${name} -->\n${s.doc}\n\n${s.markdownTable()}\n<!-- /table -->`;
  });
}

const docPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'FORMAT.md');
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const current = fs.readFileSync(docPath, 'utf8');
  const next = renderFormatDoc(current);
  if (process.argv.includes('--check')) {
    if (next !== current) { console.error('docs/FORMAT.md is out of date: run npm run docs:format'); process.exit(1); }
  } else fs.writeFileSync(docPath, next);
}
