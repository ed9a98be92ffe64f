/** What the trainer says: epoch lines (from 1, top-5 only with more than 5 classes), the huge-loss note, the schedule in words, the best epoch. */
import { BestTracker, describeSchedule, epochLine, hugeLossNote, paperSchedule, paperWarmup, scaledPaperSchedule } from '../src/index.js';

test('epoch lines number epochs from 1 and show top-5 only when it was measured', () => {
  const m = { epoch: 1, trainLoss: 0.5, trainAcc: 0.8, testLoss: 0.6, top1: 0.75, evalSet: 'val' as const, imagesPerSec: 100 };
  expect(epochLine(m, 10)).toBe('epoch 1/10: train loss 0.5000 acc 80.00 %, val loss 0.6000 top-1 75.00 %, 100.0 img/s');
  expect(epochLine({ ...m, top5: 0.9 }, 10)).toMatch(/top-1 75\.00 % top-5 90\.00 %/);
});

test('a huge early evaluation loss gets a note about batch-norm statistics; a normal one does not', () => {
  const base = { epoch: 1, trainLoss: 0.9, trainAcc: 0.6, top1: 0.1, imagesPerSec: 1 };
  expect(hugeLossNote({ ...base, testLoss: 3857.8 }, 4)).toMatch(/the test loss 3857\.8 is huge next to the training loss 0\.9000: .*running statistics.*still settling/);
  expect(hugeLossNote({ ...base, testLoss: 1.2 }, 4)).toBeUndefined();
  expect(hugeLossNote({ ...base, testLoss: NaN }, 4)).toBeUndefined();
  expect(hugeLossNote({ ...base, trainLoss: 0.01, testLoss: 0.5 }, 10)).toBeUndefined(); // over 10x the training loss but under 10 x ln K: overfitting, not BN
});

test('schedules in words', () => {
  expect(describeSchedule(paperSchedule(0.1))).toBe('0.1, /10 at steps 32000 and 48000');
  expect(describeSchedule(scaledPaperSchedule(1000, 0.05))).toBe('0.05, /10 at steps 500 and 750');
  expect(describeSchedule({ type: 'cosine', lr: 0.1, total: 300 })).toBe('cosine from 0.1 to 0 over 300 steps');
  expect(describeSchedule(paperWarmup(paperSchedule(), 400, 0.01))).toBe('0.01 for 400 steps, then 0.1, /10 at steps 32000 and 48000');
  expect(describeSchedule({ type: 'constant', lr: 0.01 })).toBe('constant 0.01');
});

test('the best epoch: higher top-1, ties to the lower loss, never a non-finite loss; restored from a log', () => {
  const b = new BestTracker();
  const e = (epoch: number, top1: number, testLoss: number) => ({ epoch, top1, testLoss, trainLoss: 1, trainAcc: 0, imagesPerSec: 1 });
  expect(b.offer(e(1, 0.5, 1))).toBe(true);
  expect(b.offer(e(2, 0.5, 1.1))).toBe(false);
  expect(b.offer(e(3, 0.5, 0.9))).toBe(true);
  expect(b.offer(e(4, 0.9, NaN))).toBe(false);
  expect(b.epoch).toBe(3);
  const restored = new BestTracker([{ ...e(1, 0.5, 1), best: true }, e(2, 0.7, 1), { ...e(3, 0.6, 1), best: true }]);
  expect([restored.epoch, restored.top1]).toEqual([3, 0.6]);
});
