// The dispatcher: one command table drives parsing, help and dispatch. Every error becomes one
// line on stderr, `strata: <what and where> (hint: <next step>)`, and the exit code of the
// fsck(8) convention; a stack trace only with STRATA_DEBUG=1.
import { Command, CommanderError } from 'commander';
import type { ChalkInstance } from 'chalk';
import { EXIT, InterruptedError, StrataError } from '../format/errors.js';
import { StdOutput, type ProgressOutcome } from './output.js';
import { PLAIN, chalkFor, colorEnabled, loadChalk, type ChalkConstructor } from './color.js';
import type { Act, CommandSpec } from './command.js';
import { COMMANDS } from '../commands/index.js';

/** Kept equal to package.json's version by test/cli/help.test.ts; reading package.json at startup would cost a file read per run. */
export const VERSION = '0.1.0';

/** An error taken apart for printing: the message is one line; the stack only when asked for. */
export interface ErrorReport {
  message: string;
  hint?: string;
  /** only with STRATA_DEBUG=1 */
  stack?: string;
  code: number;
}

const ERRNO_HINTS: Record<string, string> = {
  ENOSPC: 'free space on the host filesystem, or give the image a larger --size',
  EACCES: 'check the permissions of the file and of its folder',
  EPERM: 'check the permissions of the file and of its folder',
  EROFS: 'the host filesystem is mounted read-only',
  EMFILE: 'raise the open file limit (ulimit -n)',
};

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** "ENOENT: no such file or directory, open '/x'" -> "/x: No such file or directory", as coreutils says it. */
function errnoMessage(e: NodeJS.ErrnoException): string {
  const described = /^E[A-Z0-9]+: ([^,]+)/.exec(e.message)?.[1];
  const reason = described ? described[0]!.toUpperCase() + described.slice(1) : e.message;
  const dest = (e as NodeJS.ErrnoException & { dest?: string }).dest;
  if (e.path === undefined) return reason;
  return `${e.path}${dest !== undefined ? ` -> ${dest}` : ''}: ${reason}`;
}

function isErrno(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!) && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

export function errorReport(err: unknown, debug: boolean): ErrorReport {
  const stack = debug && err instanceof Error && err.stack ? err.stack : undefined;
  if (err instanceof StrataError) {
    return { message: oneLine(err.message), hint: err.hint, stack, code: err.exitCode };
  }
  if (isErrno(err)) {
    return { message: oneLine(errnoMessage(err)), hint: ERRNO_HINTS[err.code!], stack, code: EXIT.OPERATIONAL };
  }
  const text = err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
  return {
    message: `internal error: ${oneLine(text)}`,
    hint: debug ? undefined : 'run again with STRATA_DEBUG=1 for a stack trace, and report it',
    stack,
    code: EXIT.OPERATIONAL,
  };
}

/** The line(s) to print for an error: one line, plus the stack when debugging. */
export function formatErrorReport(report: Omit<ErrorReport, 'code'>, color: ChalkInstance = PLAIN): string {
  const hint = report.hint ? color.dim(` (hint: ${report.hint})`) : '';
  return `${color.bold.red('strata:')} ${report.message}${hint}${report.stack ? `\n${report.stack}` : ''}`;
}

export function describeError(err: unknown, debug: boolean): { line: string; code: number } {
  const report = errorReport(err, debug);
  return { line: formatErrorReport(report), code: report.code };
}

/** Commander's "error: unknown command 'mkfz'\n(Did you mean mkfs?)" in our one-line shape. */
export function commanderErrorReport(text: string, commandPath: string, usage: string): Omit<ErrorReport, 'code'> {
  const lines = text.trim().replace(/^error: /, '').split('\n');
  const suggestion = lines.map((l) => /^\(Did you mean (.*)\?\)$/.exec(l)?.[1]).find((s) => s !== undefined);
  const message = oneLine(lines.filter((l) => !l.startsWith('(Did you mean')).join(' '))
    .replace(/^too many arguments(?: for '[^']*')?\. Expected (\d+) arguments? but got (\d+)\.$/, 'too many arguments: expected $1, got $2');
  const where = commandPath ? `${commandPath}: ` : '';
  let hint: string;
  if (suggestion !== undefined) hint = `did you mean ${suggestion}?`;
  else if (/unknown command/.test(message)) hint = `"strata${commandPath ? ` ${commandPath}` : ''} --help" lists the commands`;
  else hint = `usage: strata ${commandPath ? `${commandPath} ` : ''}${usage}`;
  return { message: `${where}${message}`, hint };
}

const EXIT_CODES_HELP = `
Exit codes (the fsck(8) convention, for every command):
  0   success; the image is clean
  1   problems were found and all fixed
  4   problems remain (uncorrected, data lost)
  8   operational error: cannot open or read the image, I/O error, no space
  16  usage error
  32  interrupted

Environment:
  NO_COLOR=1           no colour (wins over FORCE_COLOR)
  FORCE_COLOR=1        colour even when output is not a terminal
  CI=1                 plain progress lines on stderr instead of the live view
  STRATA_DEBUG=1       print the stack trace of an error
  SOURCE_DATE_EPOCH=s  the time mkfs records, for byte-identical images

Run "strata <command> --help" for the options and examples of a command.
The full reference is docs/cli.md; JSON output is described by docs/schemas/.
`;

function examplesFor(spec: CommandSpec, subcommand?: string): string[] {
  if (subcommand === undefined) return spec.examples;
  const invocation = new RegExp(`(^|\\s)strata ${spec.name} ${subcommand}(\\s|$)`);
  return spec.examples.filter((e) => invocation.test(e));
}

function examplesHelp(examples: string[]): string {
  return `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n`;
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The bold of help titles; commander strips it again when the stream gets no colour. */
const bold = (text: string) => `\x1b[1m${text}\x1b[22m`;

export function buildProgram(commands: CommandSpec[], act: Act, env: NodeJS.ProcessEnv = process.env, chalk?: ChalkConstructor): Command {
  const program = new Command('strata')
    .description('strata: copy-on-write, checksummed, multi-member filesystem images, in userspace')
    .usage('<command> [options]')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride();
  program.configureHelp({ styleTitle: bold });
  program.configureOutput({
    getOutHasColors: () => colorEnabled(process.stdout, env),
    getErrHasColors: () => colorEnabled(process.stderr, env),
  });
  for (const spec of commands) {
    const cmd = program.command(spec.name).description(spec.summary).exitOverride();
    spec.configure(cmd, act);
    if (spec.examples.length) cmd.addHelpText('after', examplesHelp(spec.examples));
    for (const sub of cmd.commands) {
      const examples = examplesFor(spec, sub.name());
      if (examples.length) sub.addHelpText('after', examplesHelp(examples));
    }
  }
  program.addHelpText('after', EXIT_CODES_HELP);
  const errColor = chalkFor(process.stderr, env, chalk);
  const routeErrors = (cmd: Command) => {
    const path = commandPath(cmd);
    cmd.configureOutput({ outputError: (text, write) => write(formatErrorReport(commanderErrorReport(text, path, cmd.usage()), errColor) + '\n') });
    cmd.commands.forEach(routeErrors);
  };
  routeErrors(program);
  return program;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const debug = env.STRATA_DEBUG === '1';
  // `strata --help | head`: the reader went away, which is a normal end, not a crash.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.OK);
  });
  const chalk = await loadChalk([process.stdout, process.stderr], env);
  const errColor = chalkFor(process.stderr, env, chalk);
  let exitCode: number = EXIT.OK;
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    controller.abort();
    // A second Ctrl+C means "now": long work checks the signal only between steps.
    if (interrupts > 1) process.exit(EXIT.INTERRUPTED);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const act: Act = async (json, handler) => {
    const out = new StdOutput(json, env, { chalk });
    let outcome: ProgressOutcome = 'completed';
    try {
      exitCode = await handler({ out, signal: controller.signal, env });
      if (exitCode === EXIT.INTERRUPTED) outcome = 'interrupted';
    } catch (err) {
      outcome = controller.signal.aborted || err instanceof InterruptedError ? 'interrupted' : 'failed';
      // The summary of the work first, then the error that ended it.
      out.done(outcome);
      const report = errorReport(err, debug);
      process.stderr.write(formatErrorReport(report, errColor) + '\n');
      exitCode = report.code;
    } finally {
      out.done(outcome);
    }
  };
  const program = buildProgram(COMMANDS, act, env, chalk);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help, --version and "strata help" exit 0; help shown because something was missing
      // ("strata", "strata dump") and every parse error are usage errors.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.OK;
      if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      return EXIT.USAGE;
    }
    const report = errorReport(err, debug);
    process.stderr.write(formatErrorReport(report, errColor) + '\n');
    return report.code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return exitCode;
}
