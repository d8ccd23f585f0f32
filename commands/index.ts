// The command table: one row per subcommand, in the order `strata --help` lists them.
import type { CommandSpec } from '../cli/command.js';
import { mkfsCommand } from './mkfs.js';
import { dumpCommand } from './dump.js';

export const COMMANDS: CommandSpec[] = [mkfsCommand, dumpCommand];
