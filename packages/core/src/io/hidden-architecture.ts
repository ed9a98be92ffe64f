/**
 * What a state dict's keys and shapes cannot say about its net: a plain net has a residual net's keys,
 * a ResNet v1 bottleneck has v1.5's, and option A's two zero-padding placements have the same
 * (no) shortcut tensors. A tool that reads only the tensors (torchvision, PyTorch code, `inferSpec`
 * without hints) builds the default there; resnet-ts keeps the real spec in the file's metadata
 * (`stateDictMetadata`). {@link hiddenArchitecture} lists the facts a file of `spec` would lose.
 */
import { ResNetError } from '../errors.js';
import type { ResNetSpec } from '../resnet.js';
import { architectureOf } from './checkpoint-schema.js';
import { inferSpec } from './infer-spec.js';
import type { RawStateDict } from './weights.js';

/** One architecture fact the tensors of a state dict do not show. */
export interface HiddenFact {
  /** The spec field: `residual`, `strideMode`, `shortcutParams`, ... */
  field: string;
  /** What the spec says, e.g. `this net is plain (no shortcuts)`. */
  actual: string;
  /** What a reader of the tensors alone builds instead, e.g. `a residual resnet20`. */
  instead: string;
}

/** `resnet20`, `plain20`, `resnet50`: the conv and linear layers counted as the papers do. */
export function netName(spec: ResNetSpec): string {
  const layers = 2 + spec.stages.reduce((n, s) => n + s.depth * (s.block.includes('bottleneck') ? 3 : 2), 0);
  return `${spec.residual === false ? 'plain' : 'resnet'}${layers}`;
}

const PADDING: Record<string, string> = {
  after: 'all after the identity channels',
  split: 'half before and half after the identity channels',
};

/** Option A's padding placement ('after' by default), or undefined for another shortcut or a plain net. */
function padding(spec: ResNetSpec): string | undefined {
  if (spec.residual === false || spec.shortcut !== 'A') return undefined;
  return String(spec.shortcutParams?.padding ?? 'after');
}

function stride(mode: string): string {
  return mode === 'v1'
    ? "ResNet v1 (a bottleneck's stride on its first 1x1 conv)"
    : "ResNet v1.5 (a bottleneck's stride on its 3x3 conv, as torchvision's)";
}

/** The facts that differ between `spec` and `inferred` (what the keys alone give), in words. */
function facts(spec: ResNetSpec, inferred: ResNetSpec): HiddenFact[] {
  const out: HiddenFact[] = [];
  const a = architectureOf(spec);
  const b = architectureOf(inferred);
  const differs = Object.keys(a).filter((k) => a[k] !== b[k]);
  const handled = new Set(['residual', 'shortcut', 'shortcutParams', 'strideMode']);
  if (a.residual !== b.residual) {
    out.push(
      spec.residual === false
        ? { field: 'residual', actual: 'this net is plain (no shortcuts)', instead: `a residual ${netName(inferred)}` }
        : { field: 'residual', actual: 'this net is residual', instead: `a plain ${netName(inferred)}` },
    );
  } else {
    // Option A on both sides: only the padding placement can differ ({} and {padding: 'after'} agree).
    const [p, q] = [padding(spec), padding(inferred)];
    if (p && q && p !== q)
      out.push({
        field: 'shortcutParams',
        actual: `its option-A shortcuts pad the new zero channels ${PADDING[p] ?? `'${p}'`} (padding '${p}')`,
        instead: `a ${netName(inferred)} that pads them ${PADDING[q] ?? `'${q}'`}`,
      });
    for (const k of ['shortcut', 'shortcutParams'].filter((f) => differs.includes(f) && !(f === 'shortcutParams' && p && q)))
      out.push({ field: k, actual: `its ${k} is ${String(a[k])}`, instead: `${k} ${String(b[k])}` });
  }
  if (a.strideMode !== b.strideMode)
    out.push({
      field: 'strideMode',
      actual: `this ${netName(spec)} is ${stride(String(a.strideMode))}`,
      instead: stride(String(b.strideMode)),
    });
  for (const k of differs.filter((f) => !handled.has(f)))
    out.push({ field: k, actual: `its ${k} is ${String(a[k])}`, instead: `${k} ${String(b[k])}` });
  return out;
}

/**
 * The architecture facts of `spec` that a state dict with these tensor shapes (torchvision names,
 * PyTorch layouts) cannot show, each with what a reader of the tensors alone would build instead;
 * empty when the keys say it all. A net whose architecture the keys cannot tell at all is one fact.
 */
export function hiddenArchitecture(spec: ResNetSpec, shapes: Iterable<readonly [string, readonly number[]]>): HiddenFact[] {
  const tensors = new Map(
    [...shapes].map(([k, shape]) => [k, { shape: [...shape], dtype: 'float32' as const, data: new Float32Array(0) }]),
  );
  const sd: RawStateDict = { format: 'safetensors', tensors, metadata: {} };
  let inferred: ResNetSpec;
  try {
    inferred = inferSpec(sd);
  } catch (e) {
    if (!(e instanceof ResNetError)) throw e;
    return [{ field: 'spec', actual: `its architecture (a ${netName(spec)})`, instead: 'nothing: its keys do not name one' }];
  }
  return facts(spec, inferred);
}
