/**
 * `resnet bench --memory`: the peak RSS of a ResNet-50 forward (batch 1) on each engine, in PyTorch and
 * in onnxruntime-node, each in a fresh process (bench-memory-child.ts, bench/memory_pytorch.py).
 * resnet-ts and onnxruntime-node load the same seeded network from a file, as their users do: a
 * resnet-ts checkpoint and its ONNX export; PyTorch builds torchvision's ResNet-50 in code.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bench } from '@resnet-ts/backend-node';
import { writeResnet50Files } from './bench-onnxruntime.js';

/**
 * The peaks of one engine next to PyTorch's and onnxruntime-node's: after the first forward, and
 * (`reused…`) after the third, as in a process that keeps running the model (the native plan adds its
 * Winograd filters at the second run).
 */
export interface MemoryRow {
  engine: string;
  peakMB: number | null;
  deltaMB: number | null;
  reusedPeakMB?: number;
  pytorchPeakMB?: number;
  pytorchDeltaMB?: number;
  pytorchReusedPeakMB?: number;
  /** ours / PyTorch's peak. */
  ratio?: number;
  reusedRatio?: number;
  onnxruntimePeakMB?: number;
  onnxruntimeDeltaMB?: number;
  onnxruntimeReusedPeakMB?: number;
  /** ours / onnxruntime-node's peak. */
  onnxruntimeRatio?: number;
  onnxruntimeReusedRatio?: number;
  note?: string;
}

/** What a memory child prints, in KB: after loading the engine, after the first forward, after the third. */
interface PeakKB {
  baselineKB: number;
  peakKB: number;
  reusedPeakKB: number;
}

function parsePeak(r: ReturnType<typeof spawnSync>): PeakKB {
  if (r.status !== 0) throw new Error(String(r.stderr).trim().split('\n').pop() || `exit ${r.status}`);
  return JSON.parse(String(r.stdout).trim().split('\n').pop()!) as PeakKB;
}

/** The memory rows of `engines` (each next to the peers asked for). */
export async function peakMemory(engines: string[], comparePytorch: boolean, compareOnnxruntime: boolean): Promise<MemoryRow[]> {
  let torch: PeakKB | undefined;
  if (comparePytorch && !bench.pytorchUnavailableReason()) {
    const script = path.join(path.dirname(bench.peerScriptPath()), 'memory_pytorch.py');
    torch = parsePeak(spawnSync(bench.PYTHON, [script, '1'], { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } }));
  }
  const child = path.join(__dirname, '..', 'bench-memory-child.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-bench-memory-'));
  try {
    const files = await writeResnet50Files(dir, compareOnnxruntime);
    const ort = compareOnnxruntime
      ? parsePeak(spawnSync(process.execPath, [child, 'onnxruntime', '1', files.onnxFile], { encoding: 'utf8' }))
      : undefined;
    return engines.map((engine) => {
      try {
        return memoryRow(
          engine,
          parsePeak(spawnSync(process.execPath, [child, engine, '1', files.checkpoint], { encoding: 'utf8' })),
          torch,
          ort,
        );
      } catch (e) {
        return { engine, peakMB: null, deltaMB: null, note: (e as Error).message };
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A peer's peaks in MB and ours / theirs, after the first forward and after the third. */
function against(m: PeakKB, peer: PeakKB) {
  return {
    peakMB: peer.peakKB / 1024,
    deltaMB: (peer.peakKB - peer.baselineKB) / 1024,
    reusedPeakMB: peer.reusedPeakKB / 1024,
    ratio: m.peakKB / peer.peakKB,
    reusedRatio: m.reusedPeakKB / peer.reusedPeakKB,
  };
}

function memoryRow(engine: string, m: PeakKB, torch?: PeakKB, ort?: PeakKB): MemoryRow {
  const row: MemoryRow = {
    engine,
    peakMB: m.peakKB / 1024,
    deltaMB: (m.peakKB - m.baselineKB) / 1024,
    reusedPeakMB: m.reusedPeakKB / 1024,
  };
  if (torch) {
    const p = against(m, torch);
    Object.assign(row, { pytorchPeakMB: p.peakMB, pytorchDeltaMB: p.deltaMB, pytorchReusedPeakMB: p.reusedPeakMB });
    Object.assign(row, { ratio: p.ratio, reusedRatio: p.reusedRatio });
  }
  if (ort) {
    const p = against(m, ort);
    Object.assign(row, { onnxruntimePeakMB: p.peakMB, onnxruntimeDeltaMB: p.deltaMB, onnxruntimeReusedPeakMB: p.reusedPeakMB });
    Object.assign(row, { onnxruntimeRatio: p.ratio, onnxruntimeReusedRatio: p.reusedRatio });
  }
  return row;
}

/** The memory rows as text: each engine's peak after the first forward, then after the third. */
export function formatMemory(rows: MemoryRow[]): string {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '' : x.toFixed(0));
  const out = [
    '',
    'peak memory, resnet50 forward batch 1 (whole-process peak RSS, MB; growth over the loaded engine in brackets),',
    'after the first forward and after the third; resnet-ts and onnxruntime load the network from a file',
  ];
  for (const r of rows) {
    out.push(
      `  ${r.engine.padEnd(8)} ${f(r.peakMB).padStart(6)} (+${f(r.deltaMB)})` +
        (r.pytorchPeakMB !== undefined
          ? `   PyTorch ${f(r.pytorchPeakMB)} (+${f(r.pytorchDeltaMB)})   ratio ${r.ratio!.toFixed(2)}x`
          : '') +
        (r.onnxruntimePeakMB !== undefined
          ? `   onnxruntime ${f(r.onnxruntimePeakMB)} (+${f(r.onnxruntimeDeltaMB)})   ratio ${r.onnxruntimeRatio!.toFixed(2)}x`
          : '') +
        (r.note ? `   ${r.note}` : ''),
    );
    if (r.reusedPeakMB === undefined) continue;
    out.push(
      `  ${'3rd'.padEnd(8)} ${f(r.reusedPeakMB).padStart(6)}` +
        (r.pytorchReusedPeakMB !== undefined
          ? `          PyTorch ${f(r.pytorchReusedPeakMB)}         ratio ${r.reusedRatio!.toFixed(2)}x`
          : '') +
        (r.onnxruntimeReusedPeakMB !== undefined
          ? `   onnxruntime ${f(r.onnxruntimeReusedPeakMB)}         ratio ${r.onnxruntimeReusedRatio!.toFixed(2)}x`
          : ''),
    );
  }
  return out.join('\n');
}
