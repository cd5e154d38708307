// An error meant for the user: printed as one line, no stack, with an exit code.
import { terminalSafe } from '../shared/terminal-text.js';

/**
 * Exit codes of every command, as grep has them: 1 when the command ran and found nothing to
 * report or failed at its job; 2 for a usage error or input it cannot read at all (a missing file,
 * a directory, no permission, a recording only of a protocol version it does not speak).
 */
export const EXIT = {
  failed: 1,
  usage: 2,
  unreadable: 2,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The line printed for an error: its message may quote the input, so it is made terminal-safe. */
export function errorLine(message: string): string {
  return `loopscope: ${terminalSafe(message)}\n`;
}
