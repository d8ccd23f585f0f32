// The dispatcher: one command table drives parsing, help and dispatch. Errors become one line on
// stderr and the exit code of the fsck(8) convention; a stack trace only with STRATA_DEBUG=1.
import { Command, CommanderError } from 'commander';
import { EXIT, StrataError } from '../format/errors.js';
import { StdOutput } from './output.js';
import type { Act, CommandSpec } from './command.js';
import { COMMANDS } from '../commands/index.js';

export const VERSION = '0.1.0';

export function describeError(err: unknown, debug: boolean): { line: string; code: number } {
  if (err instanceof StrataError) {
    return { line: `strata: ${err.message}${err.hint ? ` (hint: ${err.hint})` : ''}${debug && err.stack ? `\n${err.stack}` : ''}`, code: err.exitCode };
  }
  const e = err as NodeJS.ErrnoException;
  if (e && (e.code === 'ENOSPC' || e.code === 'EIO' || e.code === 'EACCES' || e.code === 'EROFS')) {
    return { line: `strata: ${e.message}`, code: EXIT.OPERATIONAL };
  }
  const text = e instanceof Error ? e.message : String(e);
  return { line: `strata: internal error: ${text}${debug ? `\n${(e as Error)?.stack ?? ''}` : ' (set STRATA_DEBUG=1 for details)'}`, code: EXIT.OPERATIONAL };
}

export function buildProgram(commands: CommandSpec[], act: Act): Command {
  const program = new Command('strata')
    .description('strata: copy-on-write, checksummed, multi-member filesystem images, in userspace')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride();
  program.configureOutput({ outputError: (str, write) => write(str.startsWith('error:') ? `strata: ${str}` : str) });
  for (const spec of commands) {
    const cmd = program.command(spec.name).description(spec.summary).exitOverride();
    spec.configure(cmd, act);
    if (spec.examples.length) cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  $ ${e}`).join('\n')}\n`);
  }
  program.addHelpText('after', '\nExit codes: 0 ok, 1 problems fixed, 4 problems left, 8 operational error, 16 usage error, 32 interrupted.\nRun "strata <command> --help" for the options of a command.\n');
  return program;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const debug = env.STRATA_DEBUG === '1';
  let exitCode: number = EXIT.OK;
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    controller.abort();
    if (interrupts > 1) process.exit(EXIT.INTERRUPTED);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const act: Act = async (json, handler) => {
    const out = new StdOutput(json, env);
    try {
      exitCode = await handler({ out, signal: controller.signal, env });
    } catch (err) {
      out.done();
      const { line, code } = describeError(err, debug);
      process.stderr.write(line + '\n');
      exitCode = code;
    } finally {
      out.done();
    }
  };
  const program = buildProgram(COMMANDS, act);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    const { line, code } = describeError(err, debug);
    process.stderr.write(line + '\n');
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.USAGE;
  }
  return exitCode;
}
