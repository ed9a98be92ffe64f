/**
 * The PyTorch peer of `resnet bench` as a long-lived process (bench/peer_pytorch.py --serve), so that
 * its runs can be interleaved with ours round by round ({@link timeInterleaved}) instead of timed in
 * one block before or after them. Each run is timed inside Python (`time.perf_counter` around the
 * step), so the pipe's round trip is not counted against PyTorch.
 */
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import readline from 'node:readline';
import { BenchWork, PYTHON, PreparedWork, peerScriptPath } from './bench.js';

/** One answer line of the server. */
interface Answer {
  ready?: boolean;
  ok?: boolean;
  ms?: number;
  page_faults?: number;
  error?: string;
  torch?: string;
  threads?: number;
  channels_last?: boolean;
}

/** What the server process left behind: the tail of its stderr, and how it ended (null while it runs). */
interface ServerState {
  stderr: string;
  exited: string | null;
}

/** A running PyTorch peer: prepare a work, run it once at a time, close. */
export class PytorchPeer {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    private readonly state: ServerState,
    /** PyTorch's version and the threads it runs with, as the server reported them. */
    readonly info: { torch: string; threads: number },
  ) {}

  /**
   * Starts the server with `threads` intra-op threads, its models and inputs in `torch.channels_last`
   * with `channelsLast` (NHWC in memory, as ours); throws (with its stderr) if it does not come up.
   */
  static async start(threads = 2, options: { channelsLast?: boolean } = {}): Promise<PytorchPeer> {
    const args = [peerScriptPath(), '--serve', '--threads', String(threads), ...(options.channelsLast ? ['--channels-last'] : [])];
    const child = spawn(PYTHON, args, {
      // PyTorch's own OpenMP settings: with OMP_WAIT_POLICY=PASSIVE it ran 3-46 % slower on this 2-vCPU VM
      // (peer_pytorch.py standalone, two runs of ResNet-50 b1, ResNet-20 b128 forward and SGD step).
      env: process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const state: ServerState = { stderr: '', exited: null };
    child.stderr.on('data', (d: Buffer) => (state.stderr = (state.stderr + d.toString()).slice(-4000)));
    child.on('exit', (code, signal) => (state.exited = `exit ${code ?? signal}`));
    const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    const hello = first.done ? null : (JSON.parse(first.value) as Answer);
    if (!hello?.ready) {
      child.kill();
      throw new Error(`the PyTorch peer did not start: ${state.stderr.trim().split('\n').slice(-2).join(' | ') || 'no answer'}`);
    }
    if (Boolean(hello.channels_last) !== Boolean(options.channelsLast)) {
      child.kill();
      throw new Error(
        `the PyTorch peer runs ${hello.channels_last ? '' : 'not '}in channels_last, asked the opposite (an outdated peer_pytorch.py?)`,
      );
    }
    return new PytorchPeer(child, lines, state, { torch: hello.torch ?? '?', threads: hello.threads ?? threads });
  }

  /** Sends one request and waits for its answer; a server error or a dead server throws. */
  private async request(req: object): Promise<Answer> {
    if (this.state.exited)
      throw new Error(`the PyTorch peer is gone (${this.state.exited}): ${this.state.stderr.trim().split('\n').pop() ?? ''}`);
    this.child.stdin.write(JSON.stringify(req) + '\n');
    const next = await this.lines.next();
    if (next.done) throw new Error(`the PyTorch peer stopped: ${this.state.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    const answer = JSON.parse(next.value) as Answer;
    if (answer.error) throw new Error(`PyTorch: ${answer.error}`);
    return answer;
  }

  /**
   * `w` built in PyTorch (the same network and input size as ours), ready to run; its `run` resolves to
   * PyTorch's own ms and the page faults of its process during the run.
   */
  async prepare(w: BenchWork): Promise<PreparedWork> {
    await this.request({ op: 'prepare', work: `${w.kind}:${w.batch}` });
    return {
      run: async () => {
        const a = await this.request({ op: 'run' });
        return { ms: a.ms ?? NaN, pageFaults: a.page_faults };
      },
      dispose: () => {},
    };
  }

  /** Ends the server (end of its input). */
  close(): void {
    this.child.stdin.end();
  }
}
