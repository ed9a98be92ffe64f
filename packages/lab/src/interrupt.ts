/**
 * Ctrl-C (SIGINT) and SIGTERM in the resumable `resnet lab` commands (degradation, shortcuts,
 * transfer), with the trainer's own stop mechanism, as `resnet train` does: the signal aborts the
 * `AbortSignal` given to `@resnet-ts/train`'s `train`, which stops after the current step, saves a
 * checkpoint and releases its run folder's lock. The experiment then stops without writing a report
 * ({@link ExperimentInterruptedError}), and the command prints one line with the command that resumes
 * it and exits 128 + the signal's number (130 for Ctrl-C). A second signal quits at once, as in
 * `resnet train`: both stop through `@resnet-ts/train`'s `abortOnStopSignals`.
 */
import { ResNetError } from '@resnet-ts/core';
import { abortOnStopSignals, signalExitCode, signalName } from '@resnet-ts/train';
import type { CommandHost } from './command.js';
import { commandLine } from './experiment.js';

/** An experiment stopped by its `signal` at a safe point: what is done is saved, and rerunning it continues. */
export class ExperimentInterruptedError extends ResNetError {
  constructor(
    message: string,
    /** The command's exit status (set once the stop signal is known: 128 + its number). */
    readonly exitCode?: number,
  ) {
    super(message, 'EXPERIMENT_INTERRUPTED');
  }
}

/** The command line that continues an interrupted run: the same, less `--no-resume` (which would start it afresh). */
export function resumeCommand(command: string): string {
  return command
    .split(' ')
    .filter((a) => a !== '--no-resume')
    .join(' ');
}

/**
 * Runs a resumable experiment's command with an `AbortSignal` that the first SIGINT or SIGTERM aborts
 * (train's `abortOnStopSignals`). Interrupted, it throws {@link ExperimentInterruptedError} saying
 * how to resume, with the signal's exit status (the CLI prints it as its one error line); a run that
 * finished all the same (the signal came during its report) returns, with exit status 130 (143).
 */
export async function untilInterrupted<T>(host: CommandHost, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const say = host.reporting.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const stop = abortOnStopSignals((signal) =>
    say(`\ninterrupted: stopping after the current step and saving a checkpoint (${signalName(signal)} again to quit without saving)`),
  );
  try {
    const out = await run(stop.signal);
    const received = stop.received();
    if (received) {
      say('interrupted after the last step: the run is complete');
      process.exitCode = signalExitCode(received);
    }
    return out;
  } catch (e) {
    const received = stop.received();
    if (received && e instanceof ExperimentInterruptedError)
      throw new ExperimentInterruptedError(
        `${e.message}; resume with: ${resumeCommand(host.reporting.command ?? commandLine())}`,
        signalExitCode(received),
      );
    throw e;
  } finally {
    stop.dispose();
  }
}
