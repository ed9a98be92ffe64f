/**
 * Portable kernels written with tfjs-core ops only, so any backend can register them under its own
 * name (core knows no backend by name: the caller passes it). The tfjs wasm backend needs them, in
 * Node and in browsers, because it lacks or gets wrong:
 * Conv2DBackpropFilter (missing), Conv2DBackpropInput (a slow loop), MaxPoolGrad (wrong for
 * overlapping windows), Tile (slow for the batch-norm gradient's broadcast).
 *
 * Conv2DBackpropFilter: the filter gradient of a convolution, written as ONE forward convolution
 * (XNNPACK does the work) over transposed operands, or as ONE matMul for 1x1 kernels.
 *
 * Forward (NHWC x, HWIO W, stride s, top/left padding pt/pl):
 *   y[n,oh,ow,co] = sum_{kh,kw,ci} x[n, oh*s - pt + kh, ow*s - pl + kw, ci] * W[kh,kw,ci,co]
 * so
 *   dW[kh,kw,ci,co] = sum_{n,oh,ow} x[n, kh + oh*s - pt, kw + ow*s - pl, ci] * dy[n,oh,ow,co].
 * Read ci as a batch axis, (kh,kw) as output pixels, n as the reduced channel axis, and dy as a
 * filter of spatial size OHxOW dilated by s:
 *   X' = transpose(x,  [3,1,2,0])  : [ci, H, W, n]
 *   F' = transpose(dy, [1,2,0,3])  : [OH, OW, n, co]
 *   dW' = conv2d(X', F', stride 1, dilation s, pad top pt / left pl, bottom pb' / right pr')
 *       : [ci, KH, KW, co]  ->  transpose [1,2,0,3]  ->  [KH, KW, ci, co]
 * The output height must be KH: H + pt + pb' - ((OH-1)*s + 1) + 1 = KH, so
 *   pb' = KH - H - pt + (OH-1)*s.
 * pb' < 0 means the forward conv never read the last -pb' rows of x (stride truncation): crop them.
 * The same holds for widths. Dilations of the forward conv must be 1 (a ResNet never dilates;
 * anything else throws).
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import { makeNanMaxPool, makeNonFiniteFaithful, NON_FINITE_WRAPPED_KERNELS } from './nonfinite.js';
import { MAX_POOL_NAN } from './max-pool.js';

type Attrs = Record<string, unknown>;

function call(name: string, backendName: string, backend: KernelBackend, inputs: Record<string, TensorInfo>, attrs: Attrs): TensorInfo {
  const kernel = tf.getKernel(name, backendName);
  if (!kernel) throw new Error(`Conv2DBackpropFilter(${backendName}) needs the '${name}' kernel, which is not registered.`);
  return kernel.kernelFunc({ inputs, attrs, backend } as never) as TensorInfo;
}

/**
 * The filter gradient for `backendName` built from that backend's own Transpose/Slice/Conv2D/
 * BatchMatMul kernels (so every step runs in the backend, no data leaves it).
 */
export function makeConv2DBackpropFilter(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropFilter',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
        strides: number | [number, number];
        pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
        dataFormat: 'NHWC' | 'NCHW';
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
        filterShape: [number, number, number, number];
      };
      if (dataFormat === 'NCHW') throw new Error(`Conv2DBackpropFilter(${backendName}) supports NHWC only.`);
      const info = backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filterShape,
        strides,
        1,
        pad,
        dimRoundingMode,
        false,
        'channelsLast',
      );
      const [kh, kw, ci, co] = filterShape;
      const [n, h, w] = x.shape;
      const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
      const { top: pt, left: pl } = info.padInfo;
      const temps: TensorInfo[] = [];
      const keep = <T extends TensorInfo>(t: T): T => (temps.push(t), t);
      const b = backend as KernelBackend;
      try {
        // Rows/columns the forward conv never read are cropped so that every pad is >= 0.
        let pb = kh - h - pt + (oh - 1) * sh;
        let pr = kw - w - pl + (ow - 1) * sw;
        let xs: TensorInfo = x;
        if (pb < 0 || pr < 0) {
          const hc = pb < 0 ? h + pb : h;
          const wc = pr < 0 ? w + pr : w;
          xs = keep(call('Slice', backendName, b, { x }, { begin: [0, 0, 0, 0], size: [n, hc, wc, ci] }));
          pb = Math.max(pb, 0);
          pr = Math.max(pr, 0);
        }
        if (kh === 1 && kw === 1 && pt === 0 && pl === 0 && pb === 0 && pr === 0 && sh === 1 && sw === 1) {
          // 1x1, no padding, stride 1: dW = x^T dy, one matMul over [N*H*W, ci] x [N*H*W, co].
          const a = keep(call('Reshape', backendName, b, { x: xs }, { shape: [1, n * oh * ow, ci] }));
          const g = keep(call('Reshape', backendName, b, { x: dy }, { shape: [1, n * oh * ow, co] }));
          const m = keep(call('BatchMatMul', backendName, b, { a, b: g }, { transposeA: true, transposeB: false }));
          temps.pop();
          const out = call('Reshape', backendName, b, { x: m }, { shape: [1, 1, ci, co] });
          b.disposeData(m.dataId);
          return out;
        }
        const xt = keep(call('Transpose', backendName, b, { x: xs }, { perm: [3, 1, 2, 0] }));
        const ft = keep(call('Transpose', backendName, b, { x: dy }, { perm: [1, 2, 0, 3] }));
        const explicit: backend_util.ExplicitPadding = [
          [0, 0],
          [pt, pb],
          [pl, pr],
          [0, 0],
        ];
        const dwt = keep(
          call(
            'Conv2D',
            backendName,
            b,
            { x: xt, filter: ft },
            { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [sh, sw], dimRoundingMode: undefined },
          ),
        );
        if (dwt.shape[1] !== kh || dwt.shape[2] !== kw) {
          throw new Error(`Conv2DBackpropFilter(${backendName}): internal shape mismatch ${dwt.shape} for filter ${filterShape}.`);
        }
        return call('Transpose', backendName, b, { x: dwt }, { perm: [1, 2, 0, 3] });
      } finally {
        for (const t of temps) b.disposeData(t.dataId);
      }
    },
  };
}

/** Runs one kernel on `x` with `attrs` and keeps the result for disposal (see makeConv2DBackpropInput). */
type KeptCall = (kernel: string, x: TensorInfo, attrs: Record<string, unknown>) => TensorInfo;

/**
 * dy [n, oh, ow, co] upsampled by the strides [sh, sw]: each value followed by s-1 zeros along H and
 * W (the trailing zeros included), built from two rank-4 zero pads and reshapes (no scatter).
 */
function upsampleByStrides(dy: TensorInfo, [n, oh, ow, co]: number[], [sh, sw]: number[], run: KeptCall): TensorInfo {
  const zerosAfter = (s: number) => ({
    paddings: [
      [0, 0],
      [0, 0],
      [0, s - 1],
      [0, 0],
    ],
    constantValue: 0,
  });
  let up = dy;
  if (sw > 1) up = run('PadV2', run('Reshape', up, { shape: [n * oh, ow, 1, co] }), zerosAfter(sw));
  if (sh > 1) up = run('PadV2', run('Reshape', up, { shape: [n, oh, 1, ow * sw * co] }), zerosAfter(sh));
  return up === dy ? dy : run('Reshape', up, { shape: [n, oh * sh, ow * sw, co] });
}

/**
 * Conv2DBackpropInput (the input gradient), replacing tfjs-backend-wasm 4.22's, which is a plain
 * loop (it took 60% of a resnet20 training step). Written as ONE forward convolution of the
 * upsampled output gradient with the flipped filter:
 *   dx[i] = sum_k dy_up[i + pt - k] W[k],  dy_up[oh*s] = dy[oh] (zeros between)
 *         = sum_m dy_up[i + pt - (K-1) + m] Wflip[m],  Wflip[m] = W[K-1-m] with ci/co swapped
 * i.e. a stride-1 'valid' correlation of dy_up padded by K-1-pt on top and
 *   H - 1 + pt - (OH-1)*s  (minus the s-1 trailing zeros the upsampling leaves) at the bottom;
 * negative pads become crops. dy_up comes from two rank-4 zero pads and reshapes (no scatter).
 */
export function makeConv2DBackpropInput(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropInput',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as {
        strides: number | [number, number];
        pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
        dataFormat: 'NHWC' | 'NCHW';
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
        inputShape: [number, number, number, number];
      };
      if (dataFormat === 'NCHW') throw new Error(`Conv2DBackpropInput(${backendName}) supports NHWC only.`);
      const info = backend_util.computeConv2DInfo(
        inputShape,
        filter.shape as [number, number, number, number],
        strides,
        1,
        pad,
        dimRoundingMode,
        false,
        'channelsLast',
      );
      const [n, h, w, ci] = inputShape;
      const [kh, kw, , co] = filter.shape;
      const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
      const { top: pt, left: pl } = info.padInfo;
      const b = backend as KernelBackend;
      const temps: TensorInfo[] = [];
      const keep = <T extends TensorInfo>(t: T): T => (temps.push(t), t);
      try {
        // 1. Upsample dy by the strides (zeros between), leaving s-1 trailing zeros per axis.
        let up = upsampleByStrides(dy, [n, oh, ow, co], [sh, sw], (name, x, a) => keep(call(name, backendName, b, { x }, a)));
        // 2. Pads of the correlation (the s-1 trailing zeros already count at the bottom/right).
        let top = kh - 1 - pt;
        let left = kw - 1 - pl;
        let bottom = h - 1 + pt - (oh - 1) * sh - (sh - 1);
        let right = w - 1 + pl - (ow - 1) * sw - (sw - 1);
        if (top < 0 || left < 0 || bottom < 0 || right < 0) {
          const rows = oh * sh - Math.max(0, -top) - Math.max(0, -bottom);
          const cols = ow * sw - Math.max(0, -left) - Math.max(0, -right);
          up = keep(
            call('Slice', backendName, b, { x: up }, { begin: [0, Math.max(0, -top), Math.max(0, -left), 0], size: [n, rows, cols, co] }),
          );
          top = Math.max(top, 0);
          left = Math.max(left, 0);
          bottom = Math.max(bottom, 0);
          right = Math.max(right, 0);
        }
        // 3. Flipped filter with in/out channels swapped: [KH, KW, co, ci].
        const rev = keep(call('Reverse', backendName, b, { x: filter }, { dims: [0, 1] }));
        const wf = keep(call('Transpose', backendName, b, { x: rev }, { perm: [0, 1, 3, 2] }));
        const explicit: backend_util.ExplicitPadding = [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ];
        const dx = call(
          'Conv2D',
          backendName,
          b,
          { x: up, filter: wf },
          { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
        );
        if (dx.shape[1] !== h || dx.shape[2] !== w || dx.shape[3] !== ci) {
          b.disposeData(dx.dataId);
          throw new Error(`Conv2DBackpropInput(${backendName}): internal shape mismatch ${dx.shape} for input ${inputShape}.`);
        }
        return dx;
      } finally {
        for (const t of temps) b.disposeData(t.dataId);
      }
    },
  };
}

/**
 * MaxPoolGrad, replacing tfjs-backend-wasm 4.22's, which drops gradient for inputs that are the
 * maximum of more than one overlapping window (3x3 stride 2, the ImageNet stem's max pool): the
 * conformance suite found it (error 0.44 vs cpu, while cpu and webgpu agree). Same semantics as the
 * cpu backend: each window sends its gradient to its first maximum (row-major), padding is -inf.
 * Memory-bound and small (one pass over dy with a 3x3 window), so plain JavaScript on the wasm
 * heap's data is fast enough (~ms for a ResNet-50 stem).
 */
export function makeMaxPoolGrad(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'MaxPoolGrad',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
      const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as {
        filterSize: number | [number, number];
        strides: number | [number, number];
        pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
      };
      const b = backend as KernelBackend & {
        makeOutput(shape: number[], dtype: string, memoryOffset?: number | null, values?: Float32Array): TensorInfo;
      };
      const info = backend_util.computePool2DInfo(
        input.shape as [number, number, number, number],
        filterSize,
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      const x = b.readSync(input.dataId) as Float32Array;
      const g = b.readSync(dy.dataId) as Float32Array;
      const [n, h, w, c] = input.shape;
      const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
      const { top: pt, left: pl } = info.padInfo;
      const dx = new Float32Array(n * h * w * c);
      for (let bi = 0; bi < n; bi++) {
        for (let yr = 0; yr < oh; yr++) {
          const r0 = yr * sh - pt;
          const rMin = Math.max(0, r0);
          const rMax = Math.min(h, r0 + fh);
          for (let yc = 0; yc < ow; yc++) {
            const c0 = yc * sw - pl;
            const cMin = Math.max(0, c0);
            const cMax = Math.min(w, c0 + fw);
            const gBase = ((bi * oh + yr) * ow + yc) * c;
            for (let ch = 0; ch < c; ch++) {
              let best = -Infinity;
              let at = -1;
              for (let r = rMin; r < rMax; r++) {
                for (let col = cMin; col < cMax; col++) {
                  const i = ((bi * h + r) * w + col) * c + ch;
                  if (at < 0 || x[i] > best) {
                    best = x[i];
                    at = i;
                  }
                }
              }
              if (at >= 0) dx[at] += g[gBase + ch];
            }
          }
        }
      }
      return b.makeOutput(input.shape, 'float32', null, dx);
    },
  };
}

/**
 * Tile with a fast path for what tfjs-core's batch-norm gradient does on every call (a [1,1,1,C]
 * vector tiled to [N,H,W,C]): when only leading size-1 axes are repeated, the output is the input
 * block repeated, written straight into the wasm heap with doubling copyWithin. Anything else goes
 * to the backend's own Tile kernel.
 */
export function makeFastTile(backendName: string, fallback: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: 'Tile',
    backendName,
    setupFunc: fallback.setupFunc,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const x = (inputs as { x: TensorInfo }).x;
      const reps = (attrs as unknown as { reps: number[] }).reps;
      let p = 0;
      while (p < reps.length && x.shape[p] === 1) p++;
      const blockTiledOnly = reps.every((r, j) => j < p || r === 1);
      const b = backend as KernelBackend & {
        makeOutput(shape: number[], dtype: string): TensorInfo;
        typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
      };
      if (!blockTiledOnly || typeof b.typedArrayFromHeap !== 'function' || x.dtype === 'string' || x.dtype === 'complex64')
        return fallback.kernelFunc(args);
      const outShape = x.shape.map((d, j) => d * reps[j]);
      const out = b.makeOutput(outShape, x.dtype);
      const src = b.typedArrayFromHeap(x);
      const dst = b.typedArrayFromHeap(out);
      const block = src.length;
      if (block > 0) {
        dst.set(src, 0);
        let filled = block;
        while (filled < dst.length) {
          const n = Math.min(filled, dst.length - filled);
          dst.copyWithin(filled, 0, n);
          filled += n;
        }
      }
      return out;
    },
  };
}

/** Registers the missing/fixed kernels for `backendName` ('wasm' by default); idempotent. */
export function registerMissingKernels(backendName = 'wasm'): void {
  if (!tf.getKernel('Conv2DBackpropFilter', backendName)) tf.registerKernel(makeConv2DBackpropFilter(backendName));
  const mark = `__resnetTsWasmKernels_${backendName}`;
  const g = globalThis as Record<string, unknown>;
  if (backendName === 'wasm' && !g[mark]) {
    const tile = tf.getKernel('Tile', backendName);
    // XNNPACK's clamps drop NaN: keep its speed, give cpu's result when NaN/Inf is involved.
    const faithful = NON_FINITE_WRAPPED_KERNELS.map((name) => tf.getKernel(name, backendName))
      .filter((k): k is tf.KernelConfig => k !== undefined)
      .map(makeNonFiniteFaithful);
    const configs = [
      // Core's NaN-keeping max pooling on the faithful MaxPool (no mask ops on wasm).
      ...faithful.filter((k) => k.kernelName === 'MaxPool').map((k) => makeNanMaxPool(k, MAX_POOL_NAN)),
      makeMaxPoolGrad(backendName),
      makeConv2DBackpropInput(backendName),
      ...(tile ? [makeFastTile(backendName, tile)] : []),
      ...faithful,
    ];
    for (const config of configs) {
      if (tf.getKernel(config.kernelName, backendName)) tf.unregisterKernel(config.kernelName, backendName);
      tf.registerKernel(config);
    }
    g[mark] = true;
  }
}
