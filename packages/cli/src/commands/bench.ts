import { Command } from 'commander';
import { EngineRow, bench, probeEngines } from '@resnet-ts/backend-node';
import { useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import { UserError } from '../util.js';
import { OptionKind, choiceList, integer, opt, refuseRepeats, text } from '../options.js';
import { loadOnnxruntime } from './bench-onnxruntime.js';
import { MemoryRow, formatMemory, peakMemory } from './bench-memory.js';
import { ColdStartRow, coldStart, formatColdStart } from './bench-cold-start.js';
import { MachineLoad, machineLoadNote, watchMachineLoad } from '../machine-load.js';
import { BenchPeer, PEERS, Peer, StartedPeers, medianFaults, pageFaultNote, peerLabel, setPeerColumns, startPeers } from './bench-peers.js';

/** `--works`: rows such as `resnet20-forward:32`, each batch from 1 to 4096. */
const WORK_LIST: OptionKind<bench.BenchWork[]> = {
  expects: 'a comma-separated list of resnet20-forward:N, resnet20-train:N, resnet18-forward:N or resnet50-forward:N with N from 1 to 4096',
  parse(value, flag) {
    try {
      const works = value.split(',').map(bench.parseWork);
      if (works.every((w) => w.batch >= 1 && w.batch <= 4096)) {
        refuseRepeats(
          flag,
          works.map((w) => `${w.kind}:${w.batch}`),
          value,
        );
        return works;
      }
    } catch (e) {
      if (e instanceof UserError) throw e;
      // refused below
    }
    throw new UserError(`${flag} must be ${this.expects}; got ${value}`);
  },
};

interface BenchOptions {
  engines?: string;
  repeats: number;
  comparePytorch?: boolean;
  compare?: Peer[];
  full?: boolean;
  works?: bench.BenchWork[];
  json?: boolean;
  memory?: boolean;
  coldStart?: number;
}

/** Engines too slow for the full set (cpu; webgpu on a software adapter): fewer runs, some rows skipped. */
const CPU_SKIP: bench.WorkKind[] = ['resnet20-train'];

/**
 * `resnet bench`: per engine, resnet20 forward batch 32, a resnet20 SGD step batch 32 and resnet50
 * forward batch 1 (ms as the median of --repeats runs after a warm-up, and images/s), with the same
 * work in the peers of --compare (onnxruntime-node, PyTorch CPU through bench/peer_pytorch.py) in
 * interleaved rounds, and their page faults per run.
 */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(
      'time resnet20/resnet18/resnet50 forward and training steps per engine, next to onnxruntime-node and PyTorch with --compare',
    )
    .addOption(opt('--engines <list>', 'comma-separated engines (default: every available one)', text('a list of engines')))
    .addOption(opt('--repeats <n>', 'timed runs per row (median reported)', integer(1, 1000), 5))
    .addOption(
      opt(
        '--compare <peers>',
        'also run the same work in these peers: onnxruntime (onnxruntime-node, forward rows), pytorch, pytorch-channels-last (models and inputs in torch.channels_last)',
        choiceList(PEERS),
      ),
    )
    .option('--compare-pytorch', 'also run the same work in PyTorch (/usr/bin/python3 with torch); same as --compare pytorch')
    .option('--full', 'add resnet20 batch 128, resnet18 batch 1 and resnet50 batch 8 rows')
    .addOption(opt('--works <list>', 'explicit rows, e.g. resnet20-forward:32,resnet20-train:128,resnet50-forward:1', WORK_LIST))
    .option('--json', 'print JSON')
    .option(
      '--memory',
      'also measure the peak memory of a resnet50 forward per engine (fresh processes, the network loaded from a file; after the first and the third forward)',
    )
    .addOption(
      opt(
        '--cold-start <rounds>',
        'also time process start to logits written, in <rounds> interleaved rounds of fresh processes: resnet forward (ResNet-50 batch 8 from a checkpoint; next to onnxruntime-node with --compare onnxruntime) and resnet predict',
        integer(1, 100),
      ),
    )
    .action(async (opts: BenchOptions, cmd: Command) => {
      const machineLoad = watchMachineLoad();
      const works = opts.works ?? (opts.full ? bench.FULL_WORKS : bench.DEFAULT_WORKS);
      const listed = opts.engines ? engineList(opts.engines) : undefined;
      const probed = await probeEngines();
      const engines = listed ?? probed.filter((r) => r.available).map((r) => r.name);
      const repeatsGiven = cmd.getOptionValueSource('repeats') === 'cli';
      const log = (line: string) => process.stderr.write(line + '\n');
      const peers = new Set<Peer>(opts.compare ?? []);
      if (opts.comparePytorch) peers.add('pytorch');
      const failures: string[] = [];
      const onnxruntime = peers.has('onnxruntime') ? loadOnnxruntime() : null;
      const started = await startPeers(peers, onnxruntime, { log, failures });
      let rows: bench.BenchRow[];
      try {
        rows = await timeEngines(engines, probed, works, {
          repeats: opts.repeats,
          repeatsGiven,
          peers: started.peers,
          failures,
          log,
        });
      } finally {
        for (const peer of started.peers) peer.close();
      }
      const memory = opts.memory
        ? await peakMemory(
            engines.filter((e) => probed.find((r) => r.name === e)?.available),
            peers.has('pytorch'),
            Boolean(onnxruntime?.ort),
          )
        : undefined;
      const cold = opts.coldStart
        ? await coldStart({
            rounds: opts.coldStart,
            ortPath: onnxruntime?.ort ? require.resolve('onnxruntime-node') : undefined,
            failures,
            log,
          })
        : undefined;
      printResults(rows, started.lines, {
        json: Boolean(opts.json),
        repeats: opts.repeats,
        memory,
        coldStart: cold,
        machineLoad: machineLoad(),
      });
      if (failures.length > 0) throw new UserError(`a peer failed: ${failures.join('; ')}`);
    });
}

/** `--engines`: the names given, each once (a repeat would be timed twice). */
function engineList(value: string): string[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return refuseRepeats('--engines', names, value);
}

/**
 * The table (or JSON) of `rows`, each peer's line under it, the memory rows, and a note when other
 * work kept the machine busy meanwhile (machine-load.ts).
 */
function printResults(
  rows: bench.BenchRow[],
  peerLines: StartedPeers['lines'],
  o: { json: boolean; repeats: number; memory?: MemoryRow[]; coldStart?: ColdStartRow[]; machineLoad: MachineLoad | null },
): void {
  const loadNote = machineLoadNote(o.machineLoad);
  if (o.json) {
    process.stdout.write(
      JSON.stringify(
        { rows, ...peerLines, repeats: o.repeats, memory: o.memory, coldStart: o.coldStart, machineLoad: o.machineLoad, loadNote },
        null,
        2,
      ) + '\n',
    );
    return;
  }
  process.stdout.write(bench.formatRows(rows) + '\n');
  for (const line of Object.values(peerLines)) if (line) process.stdout.write(`${line}\n`);
  if (o.memory) process.stdout.write(formatMemory(o.memory) + '\n');
  if (o.coldStart?.length) process.stdout.write(formatColdStart(o.coldStart) + '\n');
  if (loadNote) process.stdout.write(loadNote + '\n');
}

/** Every engine's rows: each work timed on it, next to the peers that run it (see {@link timeRow}). */
async function timeEngines(
  engines: string[],
  probed: EngineRow[],
  works: bench.BenchWork[],
  o: { repeats: number; repeatsGiven: boolean; peers: BenchPeer[]; failures: string[]; log: (line: string) => void },
): Promise<bench.BenchRow[]> {
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
      const repeats = slow && !o.repeatsGiven ? 1 : o.repeats;
      const peers = slow ? [] : o.peers.filter((p) => p.runs(w));
      const with_ = peers.map((p) => peerLabel(p.id)).join(' and ');
      o.log(
        `bench: ${engine} ${bench.workLabel(w)} (${repeats} run${repeats > 1 ? 's' : ''}${slow ? ', slow engine' : ''}${with_ ? `, interleaved with ${with_}` : ''}) ...`,
      );
      // A slow engine gets one warm-up run (not effectiveWarmup's two or three) and, unless --repeats is given, one timed run.
      const warmup = slow ? 1 : bench.effectiveWarmup(w, 1);
      const row = await timeRow(engine, w, { repeats, warmup, peers, failures: o.failures });
      if (slow)
        row.note = slowNote(
          repeats,
          o.peers.filter((p) => p.runs(w)),
        );
      // With a peer compared, a row it has no counterpart for says so (null), like a skipped one.
      for (const p of o.peers) if (!peers.includes(p)) setPeerColumns(row, p.id, null);
      rows.push(row);
    }
  }
  return rows;
}

/**
 * What a slow engine's row says about its timing: one warm-up run, then `repeats` timed runs (one
 * unless --repeats is given: then the ms is one run, not a median), and the peers it was not timed next to.
 */
export function slowNote(repeats: number, skippedPeers: { id: Peer }[]): string {
  const runs =
    repeats === 1
      ? '1 timed run after 1 warm-up run, not a median (give --repeats for more)'
      : `median of ${repeats} timed runs after 1 warm-up run`;
  const peers = skippedPeers.map((p) => peerLabel(p.id)).join(' and ');
  return `slow engine: ${runs}${peers ? `; not timed next to ${peers} (too slow to interleave)` : ''}`;
}

/**
 * One row: `w` on the current engine and, interleaved with it round by round ({@link bench.timeInterleaved}),
 * the same work in each of `peers`; their medians and ours / theirs go on the row. A peer that fails on
 * the work is added to `failures` (the command then exits non-zero) and its column is null.
 */
async function timeRow(
  engine: string,
  w: bench.BenchWork,
  o: { repeats: number; warmup: number; peers: BenchPeer[]; failures: string[] },
): Promise<bench.BenchRow> {
  const sides: { id: Peer; step: bench.PreparedWork }[] = [];
  const ours = bench.prepareWork(w, createModel);
  try {
    for (const peer of o.peers) {
      try {
        sides.push({ id: peer.id, step: await peer.prepare(w) });
      } catch (e) {
        o.failures.push(`${peer.id} failed on ${bench.workLabel(w)}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    const pageFaults = [ours, ...sides].map(() => [] as (number | null)[]);
    const times = await bench.timeInterleaved([ours, ...sides.map((s) => s.step)], {
      repeats: o.repeats,
      warmup: o.warmup,
      pageFaults,
    });
    const row = bench.makeRow(engine, w, times[0]);
    row.warmup = o.warmup;
    row.pageFaults = medianFaults(pageFaults[0]);
    for (const peer of o.peers) {
      const i = sides.findIndex((s) => s.id === peer.id);
      setPeerColumns(row, peer.id, i < 0 ? null : times[i + 1], i < 0 ? undefined : pageFaults[i + 1]);
    }
    const note = pageFaultNote(row);
    if (note) row.note = row.note ? `${row.note}; ${note}` : note;
    return row;
  } finally {
    ours.dispose();
    for (const s of sides) s.step.dispose();
  }
}
