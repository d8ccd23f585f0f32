// The command table: one row per subcommand, in the order `strata --help` lists them.
import type { CommandSpec } from '../cli/command.js';
import { mkfsCommand } from './mkfs.js';
import { fsckCommand } from './fsck.js';
import { dumpCommand } from './dump.js';
import { putCommand } from './put.js';
import { rmCommand } from './rm.js';
import { mkdirCommand } from './mkdir.js';
import { mvCommand } from './mv.js';
import { lnCommand } from './ln.js';
import { cpCommand } from './cp.js';
import { scrubCommand } from './scrub.js';

export const COMMANDS: CommandSpec[] = [mkfsCommand, fsckCommand, dumpCommand, putCommand, rmCommand, mkdirCommand, mvCommand, lnCommand, cpCommand, scrubCommand];
