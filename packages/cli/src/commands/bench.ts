import { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { bench, probeEngines } from '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import { UserError } from '../util.js';

interface BenchOptions {
  engines?: string;
  repeats: number;
  comparePytorch?: boolean;
  full?: boolean;
  works?: string;
  json?: boolean;
  memory?: boolean;
}

/** Peak RSS of a ResNet-50 forward (batch 1) per engine, and in PyTorch, each in a fresh process. */
interface MemoryRow {
  engine: string;
  peakMB: number | null;
  deltaMB: number | null;
  pytorchPeakMB?: number;
  pytorchDeltaMB?: number;
  ratio?: number;
  note?: string;
}

function peakMemory(engines: string[], comparePytorch: boolean): MemoryRow[] {
  const parse = (r: ReturnType<typeof spawnSync>) => {
    if (r.status !== 0) throw new Error(String(r.stderr).trim().split('\n').pop() || `exit ${r.status}`);
    const line = String(r.stdout).trim().split('\n').pop()!;
    return JSON.parse(line) as { baselineKB: number; peakKB: number };
  };
  let torch: { baselineKB: number; peakKB: number } | undefined;
  if (comparePytorch && !bench.pytorchUnavailableReason()) {
    const script = path.join(path.dirname(bench.peerScriptPath()), 'memory_pytorch.py');
    torch = parse(spawnSync(bench.PYTHON, [script, '1'], { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } }));
  }
  const child = path.join(__dirname, '..', 'bench-memory-child.js');
  return engines.map((engine) => {
    try {
      const m = parse(spawnSync(process.execPath, [child, engine, '1'], { encoding: 'utf8' }));
      const row: MemoryRow = { engine, peakMB: m.peakKB / 1024, deltaMB: (m.peakKB - m.baselineKB) / 1024 };
      if (torch) {
        row.pytorchPeakMB = torch.peakKB / 1024;
        row.pytorchDeltaMB = (torch.peakKB - torch.baselineKB) / 1024;
        row.ratio = m.peakKB / torch.peakKB;
      }
      return row;
    } catch (e) {
      return { engine, peakMB: null, deltaMB: null, note: (e as Error).message };
    }
  });
}

function formatMemory(rows: MemoryRow[]): string {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '' : x.toFixed(0));
  const out = ['', 'peak memory, resnet50 forward batch 1 (whole-process peak RSS, MB; growth over the loaded engine in brackets)'];
  for (const r of rows) {
    out.push(
      `  ${r.engine.padEnd(8)} ${f(r.peakMB).padStart(6)} (+${f(r.deltaMB)})` +
        (r.pytorchPeakMB !== undefined ? `   PyTorch ${f(r.pytorchPeakMB)} (+${f(r.pytorchDeltaMB)})   ratio ${r.ratio!.toFixed(2)}x` : '') +
        (r.note ? `   ${r.note}` : ''),
    );
  }
  return out.join('\n');
}

/** Engines too slow for the full set (cpu; webgpu on a software adapter): fewer runs, some rows skipped. */
const CPU_SKIP: bench.WorkKind[] = ['resnet20-train'];

/**
 * `resnet bench`: per engine, resnet20 forward batch 32, a resnet20 SGD step batch 32 and resnet50
 * forward batch 1 (ms as the median of --repeats runs after a warm-up, and images/s), with the same
 * work in PyTorch CPU (bench/peer_pytorch.py) when --compare-pytorch and torch is installed.
 */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('time resnet20/resnet50 forward and training steps per engine (and PyTorch CPU with --compare-pytorch)')
    .option('--engines <list>', 'comma-separated engines (default: every available one)')
    .option('--repeats <n>', 'timed runs per row (median reported)', (v) => parseInt(v, 10), 5)
    .option('--compare-pytorch', 'also run the same work in PyTorch (/usr/bin/python3 with torch)')
    .option('--full', 'add resnet20 batch 128 and resnet50 batch 8 rows')
    .option('--works <list>', 'explicit rows, e.g. resnet20-forward:32,resnet20-train:128,resnet50-forward:1')
    .option('--json', 'print JSON')
    .option('--memory', 'also measure the peak memory of a resnet50 forward per engine (fresh processes)')
    .action(async (opts: BenchOptions) => {
      if (!Number.isInteger(opts.repeats) || opts.repeats < 1) throw new UserError('--repeats must be a positive integer.');
      let works: bench.BenchWork[];
      try {
        works = opts.works ? opts.works.split(',').map(bench.parseWork) : opts.full ? bench.FULL_WORKS : bench.DEFAULT_WORKS;
      } catch (e) {
        throw new UserError((e as Error).message);
      }
      const probed = await probeEngines();
      const engines = opts.engines
        ? opts.engines
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : probed.filter((r) => r.available).map((r) => r.name);
      const log = (line: string) => process.stderr.write(line + '\n');
      const rows: bench.BenchRow[] = [];
      for (const engine of engines) {
        const info = probed.find((r) => r.name === engine);
        if (!info) throw new UserError(`Unknown engine '${engine}'. Engines: ${probed.map((r) => r.name).join(', ')}.`);
        if (!info.available) {
          for (const w of works) rows.push(bench.makeRow(engine, w, null, `unavailable: ${info.reason ?? ''}`));
          continue;
        }
        await useBackend(engine);
        const slow = engine === 'cpu' || (engine === 'webgpu' && info.priority < 30);
        for (const w of works) {
          if (engine === 'cpu' && CPU_SKIP.includes(w.kind)) {
            rows.push(bench.makeRow(engine, w, null, "skipped: tfjs cpu's filter gradient is a naive loop (~4 min per step at batch 32)"));
            continue;
          }
          const repeats = slow ? 1 : opts.repeats;
          log(`bench: ${engine} ${bench.workLabel(w)} (${repeats} run${repeats > 1 ? 's' : ''}${slow ? ', slow engine' : ''}) ...`);
          const times = await bench.timeWork(w, createModel, { repeats, warmup: engine === 'cpu' ? 0 : 1 });
          rows.push(bench.makeRow(engine, w, times, slow ? 'slow engine: 1 run' : undefined));
        }
      }
      let pytorch: string | null = null;
      if (opts.comparePytorch) {
        const why = bench.pytorchUnavailableReason();
        if (why) {
          pytorch = `PyTorch not installed: ${why} (apt-get install python3-torch python3-torchvision)`;
          log(pytorch);
        } else {
          log(`bench: PyTorch ${works.map(bench.workLabel).join(', ')} ...`);
          try {
            const peer = bench.runPytorchPeer(works, opts.repeats);
            bench.attachPeer(rows, peer);
            pytorch = `PyTorch ${peer[0]?.torch ?? '?'} CPU, ${peer[0]?.threads ?? 2} threads`;
          } catch (e) {
            pytorch = (e as Error).message;
            log(pytorch);
          }
        }
      }
      const memory = opts.memory ? peakMemory(engines.filter((e) => probed.find((r) => r.name === e)?.available), Boolean(opts.comparePytorch)) : undefined;
      if (opts.json) {
        process.stdout.write(JSON.stringify({ rows, pytorch, repeats: opts.repeats, memory }, null, 2) + '\n');
        return;
      }
      process.stdout.write(bench.formatRows(rows) + '\n');
      if (pytorch) process.stdout.write(`${pytorch}\n`);
      if (memory) process.stdout.write(formatMemory(memory) + '\n');
    });
}
