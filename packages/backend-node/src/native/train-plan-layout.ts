/**
 * Which activations of the native training plan (train-plan.ts) stay channel-blocked (oneDNN's
 * nChw16c) instead of NHWC. oneDNN's Winograd convs work in that layout, so each of their NHWC inputs
 * and outputs costs a copy each way, in each of the three passes (~7 ms of a ~120 ms ResNet-20 step at
 * batch 128 on two cores). The plan's batch norms read and write either layout at no cost, so a value
 * passed only between Winograd convs and batch norms can stay blocked and need no copy; every other
 * value, and every value of 16 channels or fewer (where the two layouts are the same bytes), stays NHWC.
 */
import type { TrainOp, TrainPlanOps } from './train-plan-lower.js';

/** The layout bits of the native conv kernels (native/conv.cc): the conv's input and output sides. */
const CONV_SRC_BLOCKED = 1,
  CONV_DST_BLOCKED = 2;

/** The layout bits of the native train-mode batch-norm kernels (native/batchnorm.h `BnLayouts`). */
const BN_IN_BLOCKED = 1,
  BN_OUT_BLOCKED = 2,
  BN_RESIDUAL_BLOCKED = 4;

/** The layout of each value of a plan, and the layout arguments of its ops' native calls. */
export class PlanLayouts {
  /** Per value id: whether it is channel-blocked. */
  readonly blocked: boolean[];

  /**
   * @param isWinograd whether a conv op runs as a Winograd conv (which works blocked)
   */
  constructor(
    private readonly plan: TrainPlanOps,
    isWinograd: (op: Extract<TrainOp, { kind: 'conv' }>) => boolean,
  ) {
    const { ops, shapes } = plan;
    const winograd = ops.map((op) => op.kind === 'conv' && isWinograd(op));
    const takesBlocked = (op: TrainOp, i: number, v: number): boolean =>
      (op.kind === 'conv' && winograd[i] && op.x === v) || (op.kind === 'bn' && (op.x === v || op.residual === v));
    this.blocked = shapes.map((s) => s.length === 4 && s[3] > 16 && s[3] % 16 === 0);
    this.blocked[0] = false;
    ops.forEach((op, i) => {
      if (op.kind === 'conv' ? !winograd[i] : op.kind !== 'bn') this.blocked[op.out] = false;
      for (const v of valuesRead(op)) if (!takesBlocked(op, i, v)) this.blocked[v] = false;
    });
  }

  /** The layout argument of a conv op's three native passes. */
  conv(op: Extract<TrainOp, { kind: 'conv' }>): number {
    return (this.blocked[op.x] ? CONV_SRC_BLOCKED : 0) | (this.blocked[op.out] ? CONV_DST_BLOCKED : 0);
  }

  /** The (hw, bits) arguments of a batch-norm op's native forward and gradient. */
  batchNorm(op: Extract<TrainOp, { kind: 'bn' }>): [number, number] {
    const [, h, w] = this.plan.shapes[op.x];
    const bits =
      (this.blocked[op.x] ? BN_IN_BLOCKED : 0) |
      (this.blocked[op.out] ? BN_OUT_BLOCKED : 0) |
      (op.residual >= 0 && this.blocked[op.residual] ? BN_RESIDUAL_BLOCKED : 0);
    return [h * w, bits];
  }
}

/** The values an op reads. */
function valuesRead(op: TrainOp): number[] {
  switch (op.kind) {
    case 'add':
      return [op.a, op.b];
    case 'bn':
      return op.residual >= 0 ? [op.x, op.residual] : [op.x];
    default:
      return [op.x];
  }
}
