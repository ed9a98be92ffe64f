/**
 * Ctrl-C (SIGINT) and SIGTERM in the resumable `resnet lab` commands (degradation, shortcuts,
 * transfer), with the trainer's own stop mechanism, as `resnet train` does: the signal aborts the
 * `AbortSignal` given to `@resnet-ts/train`'s `train`, which stops after the current step, saves a
 * checkpoint and releases its run folder's lock. The experiment then stops without writing a report
 * ({@link ExperimentInterruptedError}), and the command prints one line with the command that resumes
 * it and exits 128 + the signal's number (130 for Ctrl-C). A second signal quits at once, as in
 * `resnet train` (the lock and any temporary file in flight are removed as the process exits).
 */
import os from 'node:os';
import { ResNetError } from '@resnet-ts/core';
import type { CommandHost } from './command.js';
import { commandLine } from './experiment.js';

/** An experiment stopped by its `signal` at a safe point: what is done is saved, and rerunning it continues. */
export class ExperimentInterruptedError extends ResNetError {
  constructor(message: string) {
    super(message, 'EXPERIMENT_INTERRUPTED');
  }
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** The shell's status of a process stopped by `signal`: 128 + its number (130 for SIGINT, 143 for SIGTERM). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 2);
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
 * (see the module comment). Interrupted, it prints how to resume and exits; a run that finished all
 * the same (the signal came during its report) returns, with exit status 130 (143).
 */
export async function untilInterrupted<T>(host: CommandHost, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const say = host.reporting.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const ctrl = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) process.exit(signalExitCode(signal));
    received = signal;
    say(
      `\ninterrupted: stopping after the current step and saving a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to quit without saving)`,
    );
    ctrl.abort();
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    const out = await run(ctrl.signal);
    if (received) {
      say('interrupted after the last step: the run is complete');
      process.exitCode = signalExitCode(received);
    }
    return out;
  } catch (e) {
    if (received && e instanceof ExperimentInterruptedError) {
      say(`${e.message}; resume with: ${resumeCommand(host.reporting.command ?? commandLine())}`);
      process.exit(signalExitCode(received));
    }
    throw e;
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
}
