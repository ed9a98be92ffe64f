/** The progress bar of long loops (training steps, evaluation batches) on stderr. */
import { SingleBar } from 'cli-progress';

/** Whether to show a bar by default: stderr is a terminal and this is not a jest worker. */
export function defaultProgressBar(): boolean {
  return Boolean(process.stderr.isTTY) && process.env.JEST_WORKER_ID === undefined;
}

/**
 * A bar on stderr (cli-progress) with `format`'s `{value}`, `{total}`, `{bar}`, `{eta_formatted}`
 * and any payload fields; `start`, `update` and `stop` as cli-progress's `SingleBar`.
 */
export function progressBar(format: string): SingleBar {
  return new SingleBar({ format, hideCursor: true, etaBuffer: 50, stream: process.stderr });
}
