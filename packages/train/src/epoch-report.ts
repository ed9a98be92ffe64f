/**
 * What the trainer says at the end of an epoch: the console line (epochs numbered from 1, as in
 * log.jsonl; top-5 only when there are more than 5 classes), the note on a huge early evaluation
 * loss, and which epoch's weights are the best on the validation set.
 */

/** The numbers of one epoch, as in log.jsonl (see `EpochMetrics`). */
export interface EpochNumbers {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  testLoss?: number;
  top1?: number;
  top5?: number;
  evalSet?: 'val' | 'test';
  imagesPerSec: number;
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

/** `epoch 3/10: train loss 0.4123 acc 85.10 %, val loss 0.5012 top-1 82.00 %, 812.3 img/s`. */
export function epochLine(m: EpochNumbers, totalEpochs: number): string {
  const evalPart =
    m.top1 !== undefined
      ? `, ${m.evalSet ?? 'test'} loss ${m.testLoss!.toFixed(4)} top-1 ${pct(m.top1)}${m.top5 !== undefined ? ` top-5 ${pct(m.top5)}` : ''}`
      : '';
  return `epoch ${m.epoch}/${totalEpochs}: train loss ${m.trainLoss.toFixed(4)} acc ${pct(m.trainAcc)}${evalPart}, ${m.imagesPerSec.toFixed(1)} img/s`;
}

/**
 * A note when an evaluation loss is far above the training loss (more than 10x, and more than 10x
 * the loss of a uniform guess, ln K): in the first epochs this is batch norm's running statistics
 * still settling (evaluation uses them; training uses each batch's own), not a broken model.
 */
export function hugeLossNote(m: EpochNumbers, numClasses: number): string | undefined {
  if (m.testLoss === undefined || !Number.isFinite(m.testLoss)) return undefined;
  const uniform = Math.log(numClasses);
  if (!(m.testLoss > 10 * Math.max(m.trainLoss, uniform))) return undefined;
  return (
    `note: the ${m.evalSet ?? 'test'} loss ${m.testLoss.toFixed(1)} is huge next to the training loss ${m.trainLoss.toFixed(4)}: ` +
    "evaluation uses batch norm's running statistics, which are still settling early in training (momentum 0.1 averages the last ~10 batches' statistics). " +
    'It usually falls within an epoch or two; if it does not, check the preprocessing or lower the learning rate.'
  );
}

/** Tracks the best epoch on the validation set: higher top-1, ties broken by lower loss. */
export class BestTracker {
  top1 = -Infinity;
  loss = Infinity;
  epoch = 0;

  /** Starts from the epochs already logged (a resumed run): those marked `best`. */
  constructor(history: (EpochNumbers & { best?: boolean })[] = []) {
    for (const m of history) if (m.best && m.top1 !== undefined) this.offer(m);
  }

  /** Whether `m` beats the best so far (and becomes it). Non-finite losses and missing top-1 never do. */
  offer(m: EpochNumbers): boolean {
    if (m.top1 === undefined || m.testLoss === undefined || !Number.isFinite(m.testLoss)) return false;
    if (m.top1 < this.top1 || (m.top1 === this.top1 && m.testLoss >= this.loss)) return false;
    [this.top1, this.loss, this.epoch] = [m.top1, m.testLoss, m.epoch];
    return true;
  }
}

/** The cross-entropy of a uniform guess over K classes, ln K (K at least 2). */
export const uniformLoss = (numClasses: number): number => Math.log(Math.max(numClasses, 2));

/** How many times a uniform guess's loss (ln K) a finite loss must exceed to count as exploded. */
export const EXPLODED_LOSS_TIMES = 1000;

/** Whether a finite loss has exploded: above `times` (default {@link EXPLODED_LOSS_TIMES}) times the loss of a uniform guess over K classes (ln K). */
export function lossExploded(loss: number, numClasses: number, times = EXPLODED_LOSS_TIMES): boolean {
  return Number.isFinite(loss) && loss > times * uniformLoss(numClasses);
}

/**
 * How far above a uniform guess's a last epoch's mean training loss must be for the run to have
 * diverged when its eval-mode loss exploded (over 1000 times): a model that is learning is not tens of
 * nats per image off, while a run early in training whose batch-norm running statistics are still
 * settling can show a huge eval-mode loss next to a training loss near ln K (a note, not a divergence).
 * The epoch's mean is not enough at 1000 times: a run that blew up within its one short epoch at lr 30
 * averaged 1.8e3 with its last step at 2.9e3, and its test loss was 5e17.
 */
export const DIVERGED_TRAIN_LOSS_TIMES = 10;

/**
 * A note when the training loss explodes while staying finite (see {@link lossExploded}). Only a
 * note in the run's course: with batch norm a network can come back from a loss spike. A run whose
 * last epoch's loss is still exploded stops as diverged (the trainer's `explodedLossMessage`).
 */
export function explodingLossNote(m: EpochNumbers, numClasses: number): string | undefined {
  const uniform = uniformLoss(numClasses);
  if (!lossExploded(m.trainLoss, numClasses)) return undefined;
  return (
    `note: the training loss ${m.trainLoss.toExponential(2)} is exploding (a uniform guess scores ${uniform.toFixed(2)}): ` +
    'the learning rate is likely far too high; if the next epochs do not bring it down, stop and lower it or add a warm-up.'
  );
}

/** The notes on the epochs' losses ({@link hugeLossNote}, {@link explodingLossNote}), each said once in a run. */
export class EpochNotes {
  private readonly said = new Set<string>();

  constructor(
    private readonly numClasses: number,
    private readonly log: (message: string) => void,
  ) {}

  /** Says the notes that epoch `m` calls for and that were not said yet. */
  after(m: EpochNumbers): void {
    const notes = { huge: hugeLossNote(m, this.numClasses), exploding: explodingLossNote(m, this.numClasses) };
    for (const [kind, note] of Object.entries(notes)) {
      if (!note || this.said.has(kind)) continue;
      this.said.add(kind);
      this.log(note);
    }
  }
}
