/**
 * The peers `resnet bench --compare` runs next to ours: each one started once for the whole run,
 * then asked to prepare and run every work it can, in rounds interleaved with ours. One list, so that
 * a new peer is one more entry in {@link PEER_KINDS}, not another parameter through every function.
 */
import { PytorchPeer, bench } from '@resnet-ts/backend-node';
import { OrtModule, loadOnnxruntime, prepareOnnxruntime } from './bench-onnxruntime.js';

/** The peers `--compare` can run next to ours, in the order each round runs them after ours. */
export const PEERS = ['onnxruntime', 'pytorch', 'pytorch-channels-last'] as const;
export type Peer = (typeof PEERS)[number];

/** The row fields a peer's median and ours / its median go into (their JSON names, kept stable). */
type MsField = 'torchMs' | 'torchChannelsLastMs' | 'onnxruntimeMs';
type RatioField = 'ratio' | 'torchChannelsLastRatio' | 'onnxruntimeRatio';
type FaultsField = 'torchPageFaults' | 'torchChannelsLastPageFaults' | 'onnxruntimePageFaults';

/** A started peer, ready to prepare works. */
export interface BenchPeer {
  readonly id: Peer;
  /** Whether it has a counterpart of `w` (onnxruntime: forward works only). */
  runs(w: bench.BenchWork): boolean;
  /** `w` built in the peer, ready to run again and again; throws when the peer refuses it. */
  prepare(w: bench.BenchWork): Promise<bench.PreparedWork>;
  /** Ends the peer (a server process ends with its input). */
  close(): void;
}

/** What `--compare` asked for: the peers that started, and one line each to print under the table. */
export interface StartedPeers {
  peers: BenchPeer[];
  /** The line of every asked-for peer (its version and settings, or why it is missing), keyed for the JSON, in print order. */
  lines: Record<'pytorch' | 'pytorchChannelsLast' | 'onnxruntime', string | null>;
}

/** Each peer's name in messages, row fields and JSON line key. */
const PEER_KINDS: Record<
  Peer,
  { label: string; ms: MsField; ratio: RatioField; faults: FaultsField; lineKey: keyof StartedPeers['lines'] }
> = {
  pytorch: { label: 'PyTorch', ms: 'torchMs', ratio: 'ratio', faults: 'torchPageFaults', lineKey: 'pytorch' },
  'pytorch-channels-last': {
    label: 'PyTorch channels_last',
    ms: 'torchChannelsLastMs',
    ratio: 'torchChannelsLastRatio',
    faults: 'torchChannelsLastPageFaults',
    lineKey: 'pytorchChannelsLast',
  },
  onnxruntime: {
    label: 'onnxruntime',
    ms: 'onnxruntimeMs',
    ratio: 'onnxruntimeRatio',
    faults: 'onnxruntimePageFaults',
    lineKey: 'onnxruntime',
  },
};

/**
 * Starts the peers in `asked`. A missing peer (PyTorch or onnxruntime-node not installed) is reported
 * in its line and left out; one that is installed but fails to start is also added to `failures` (the
 * command then exits non-zero). `ort` is onnxruntime-node as {@link loadOnnxruntime} found it.
 */
export async function startPeers(
  asked: ReadonlySet<Peer>,
  ort: { ort?: OrtModule; reason?: string } | null,
  o: { log: (line: string) => void; failures: string[] },
): Promise<StartedPeers> {
  const started: StartedPeers = { peers: [], lines: { pytorch: null, pytorchChannelsLast: null, onnxruntime: null } };
  for (const id of PEERS) {
    if (!asked.has(id)) continue;
    const { peer, line } = id === 'onnxruntime' ? onnxruntimePeer(ort ?? loadOnnxruntime(), o.log) : await pytorchPeer(id, o);
    if (peer) started.peers.push(peer);
    started.lines[PEER_KINDS[id].lineKey] = line;
  }
  return started;
}

/** onnxruntime-node in this process (forward works), or why it is missing. */
function onnxruntimePeer(loaded: { ort?: OrtModule; reason?: string }, log: (line: string) => void): { peer?: BenchPeer; line: string } {
  const ort = loaded.ort;
  if (!ort) {
    const line = loaded.reason ?? '';
    log(`onnxruntime: ${line}`);
    return { line };
  }
  return {
    peer: {
      id: 'onnxruntime',
      runs: (w) => w.kind !== 'resnet20-train',
      prepare: (w) => prepareOnnxruntime(ort, w),
      close: () => {},
    },
    line: `onnxruntime-node ${ort.env?.versions?.common ?? ''} CPU, 2 intra-op threads, graph optimisation 'all', forward rows, rounds interleaved with ours`,
  };
}

/** The PyTorch server (bench/peer_pytorch.py --serve), eager or channels_last, or why it is missing. */
async function pytorchPeer(
  id: 'pytorch' | 'pytorch-channels-last',
  o: { log: (line: string) => void; failures: string[] },
): Promise<{ peer?: BenchPeer; line: string }> {
  const channelsLast = id === 'pytorch-channels-last';
  const what = PEER_KINDS[id].label;
  const why = bench.pytorchUnavailableReason();
  if (why) {
    const line = `${what}: PyTorch not installed: ${why} (apt-get install python3-torch python3-torchvision)`;
    o.log(line);
    return { line };
  }
  try {
    const server = await PytorchPeer.start(2, { channelsLast });
    const layout = channelsLast ? ', models and inputs in torch.channels_last' : '';
    return {
      peer: {
        id,
        runs: () => true,
        prepare: (w) => server.prepare(w),
        close: () => server.close(),
      },
      line: `PyTorch ${server.info.torch} CPU${layout}, ${server.info.threads} threads, rounds interleaved with ours`,
    };
  } catch (e) {
    const line = `${what} failed: ${(e as Error).message}`;
    o.log(line);
    o.failures.push(line);
    return { line };
  }
}

/** A peer's name in the progress line. */
export function peerLabel(id: Peer): string {
  return PEER_KINDS[id].label;
}

/**
 * Puts a peer's median (`times`, null when it did not time the work) and ours / its median on `row`;
 * with no `times`, the columns say null, like a skipped row.
 */
export function setPeerColumns(row: bench.BenchRow, id: Peer, times: number[] | null, pageFaults?: (number | null)[]): void {
  const { ms, ratio, faults } = PEER_KINDS[id];
  const peerMs = times ? bench.median(times) : null;
  row[faults] = medianFaults(pageFaults);
  row[ms] = peerMs;
  row[ratio] = row.ms && peerMs ? row.ms / peerMs : null;
}

/** The median of counted page faults per run (null when none were counted). */
export function medianFaults(counts: (number | null)[] | undefined): number | null {
  const counted = (counts ?? []).filter((c): c is number => c !== null);
  return counted.length ? bench.median(counted) : null;
}

/** Page faults per run from which a peer's count is worth a note: its time then includes them (BENCHMARKS.md). */
const FAULTS_WORTH_A_NOTE = 1000;

/**
 * The row's note on page faults, when a peer took many more per timed run than ours: its time then
 * includes taking memory back from the OS (glibc's malloc returns freed blocks; on a virtual machine a
 * fault can cost microseconds), a cost of that runtime on this machine, not of the work itself.
 */
export function pageFaultNote(row: bench.BenchRow): string | undefined {
  const ours = row.pageFaults ?? 0;
  const many = PEERS.filter((id) => {
    const f = row[PEER_KINDS[id].faults];
    return f != null && f >= FAULTS_WORTH_A_NOTE && f > 10 * ours;
  });
  if (!many.length) return undefined;
  const list = many.map((id) => `${PEER_KINDS[id].label} ${Math.round(row[PEER_KINDS[id].faults]!).toLocaleString('en-US')}`);
  return `page faults per timed run: ours ${Math.round(ours).toLocaleString('en-US')}, ${list.join(', ')} (memory the peer's allocator gave back to the OS and faulted in again: part of its time)`;
}
