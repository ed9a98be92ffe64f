/**
 * Kernels the tfjs wasm backend lacks, registered for 'wasm' (works the same in Node and browsers).
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
          call('Conv2D', backendName, b, { x: xt, filter: ft }, { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [sh, sw], dimRoundingMode: undefined }),
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

/** Registers the missing kernels for `backendName` ('wasm' by default); idempotent. */
export function registerMissingKernels(backendName = 'wasm'): void {
  if (!tf.getKernel('Conv2DBackpropFilter', backendName)) tf.registerKernel(makeConv2DBackpropFilter(backendName));
}
