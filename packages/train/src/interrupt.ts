/**
 * Ctrl-C (SIGINT) and SIGTERM for a command that trains, the one way `resnet train` and the lab's
 * training experiments stop: the first signal aborts an `AbortSignal` handed to {@link train}, which
 * stops after the current step, saves a checkpoint and releases its run folder's lock; a second
 * quits at once, with the signal's shell status (the lock and any temporary file in flight are removed
 * as the process exits).
 */
import os from 'node:os';

/** The signals that stop a training command. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** The shell's status of a process stopped by `signal`: 128 + its number (130 for SIGINT, 143 for SIGTERM). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 2);
}

/** What {@link abortOnStopSignals} returns. */
export interface StopSignals {
  /** Aborted by the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** The signal received, if any. */
  received(): NodeJS.Signals | undefined;
  /** Removes the handlers (call when the training is over). */
  dispose(): void;
}

/**
 * Handles SIGINT and SIGTERM until `dispose()`: the first calls `announce` (say that the run stops
 * after this step) and aborts `signal`; a second exits at once with {@link signalExitCode}.
 */
export function abortOnStopSignals(announce: (signal: NodeJS.Signals) => void): StopSignals {
  const ctrl = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) process.exit(signalExitCode(signal));
    received = signal;
    announce(signal);
    ctrl.abort();
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  return {
    signal: ctrl.signal,
    received: () => received,
    dispose: () => {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
    },
  };
}

/** How a stop signal is named to a user: "Ctrl-C" for SIGINT, else its name. */
export function signalName(signal: NodeJS.Signals): string {
  return signal === 'SIGINT' ? 'Ctrl-C' : signal;
}
