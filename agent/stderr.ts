// The agent's own lines on stderr (bad settings, the opt-in hang report), written to fd 2 directly.
//
// Not process.stderr.write: apps and their tools replace it (test runners capture it per test,
// loggers route it into structured output, some silence it), and an agent warning must neither
// enter the app's log stream nor go through code the app wrote. Reading process.stderr would also
// open the stream (a pipe or TTY handle) for an app that never touched it.
//
// Ordering: on Linux, Node writes process.stderr synchronously for files, pipes and TTYs, so a line
// written here lands between the app's lines exactly where it was written. Where the app's stream
// holds queued data (a pipe that was full, macOS pipes, which Node writes asynchronously) a line
// written here can overtake it; a warning slightly ahead of the app's output beats one lost or
// mixed into it.
import { captured } from './captured.js';

/** How often a write that found fd 2 non-blocking and full (EAGAIN) is tried again, 1 ms apart. */
const EAGAIN_RETRIES = 100;

let sleepCell: Int32Array | null = null;

function sleep1ms(): void {
  sleepCell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleepCell, 0, 0, 1);
}

/** Writes text to fd 2; never throws (stderr closed or not writable: the line is dropped). */
export function writeStderr(text: string): void {
  try {
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    let retries = 0;
    while (off < buf.length) {
      try {
        off += captured.writeSync(2, buf, off, buf.length - off);
      } catch (err) {
        // fd 2 shared with a parent that made it non-blocking: wait for the reader, bounded.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++retries > EAGAIN_RETRIES) return;
        sleep1ms();
      }
    }
  } catch {
    // nothing more to do
  }
}
