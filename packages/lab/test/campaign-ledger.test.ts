// The papers' campaign (scripts/experiments/) keeps finished jobs in a ledger in git, because its run
// folders do not outlive the machine that ran them: a new checkout must neither train a finished net
// again nor drop it from the reports.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const COLLECT = path.join(ROOT, 'scripts', 'experiments', 'collect.cjs');
const TRAIN = 'train --model resnet20 --data fashion-mnist --epochs 2 --batch 128 --seed 0';

function epoch(epochNo: number, trainAcc: number, top1: number) {
  return { epoch: epochNo, step: 469 * epochNo, lr: 0.1, trainLoss: 0.5, trainAcc, imagesPerSec: 200, seconds: 300, evalSet: 'test', top1 };
}

describe('campaign ledger', () => {
  let dir: string;
  const runs = () => path.join(dir, 'runs');
  const results = () => path.join(dir, 'results');
  const collect = (...args: string[]) => {
    const r = spawnSync(process.execPath, [COLLECT, '--runs', runs(), '--results', results(), ...args], {
      env: { ...process.env, CAMPAIGN_JOBS: path.join(dir, 'jobs') },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return r.stdout;
  };
  const ledger = () => JSON.parse(fs.readFileSync(path.join(results(), 'campaign-ledger.json'), 'utf8')).jobs;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'campaign-ledger-'));
    fs.mkdirSync(results());
    fs.writeFileSync(
      path.join(dir, 'jobs'),
      [`depth/resnet20 | - | ${TRAIN}`, `depth/plain20 | - | ${TRAIN.replace('resnet20', 'plain20')}`, ''].join('\n'),
    );
    const jobs = {
      'depth/resnet20': { command: TRAIN, history: [epoch(1, 0.8, 0.82), epoch(2, 0.9, 0.91)] },
      // Recorded with other arguments than the job now has: the job must run again.
      'depth/plain20': {
        command: TRAIN.replace('resnet20', 'plain20').replace('--epochs 2', '--epochs 1'),
        history: [epoch(1, 0.7, 0.75)],
      },
    };
    fs.writeFileSync(path.join(results(), 'campaign-ledger.json'), JSON.stringify({ jobs }));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('restores finished jobs with the same command, and only those', () => {
    expect(collect('--restore')).toContain('depth/resnet20: done in an earlier sitting');
    const run = path.join(runs(), 'depth', 'resnet20');
    expect(fs.existsSync(path.join(run, '.done'))).toBe(true);
    expect(fs.readFileSync(path.join(run, '.restored'), 'utf8')).toContain('weights not kept');
    const log = fs
      .readFileSync(path.join(run, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.map((m) => m.top1)).toEqual([0.82, 0.91]);
    expect(fs.existsSync(path.join(runs(), 'depth', 'plain20'))).toBe(false);
  });

  it('keeps restored nets in the reports and keeps ledger entries whose run folders are gone', () => {
    collect('--restore');
    collect();
    const status = fs.readFileSync(path.join(results(), 'campaign-status.md'), 'utf8');
    expect(status).toMatch(/\| depth\/resnet20 \| done \| epoch 2\/2/);
    expect(status).toMatch(/\| depth\/plain20 \| pending \|/);
    const depth = JSON.parse(fs.readFileSync(path.join(results(), 'depth', 'result.json'), 'utf8'));
    expect(depth.result.map((n: { net: string; testError: number }) => [n.net, n.testError.toFixed(2)])).toEqual([['resnet20', '0.09']]);
    expect(Object.keys(ledger()).sort()).toEqual(['depth/plain20', 'depth/resnet20']);

    // A fresh machine: no run folders at all. Reports are left alone and the ledger keeps every entry.
    fs.rmSync(runs(), { recursive: true });
    collect();
    expect(ledger()['depth/resnet20'].history).toHaveLength(2);
    expect(fs.readFileSync(path.join(results(), 'depth', 'result.json'), 'utf8')).toContain('"resnet20"');
  });
});

// One seed per depth: the depth report calls two nets level (≈) when their errors differ by no more
// than the seed noise the shortcut study measured, so an ordering is never read off noise.
describe('depth report orderings', () => {
  let dir: string;
  const job = (model: string, seed = 0) => `train --model ${model} --data fashion-mnist --epochs 1 --batch 128 --seed ${seed}`;
  const report = (jobs: Record<string, { model: string; seed?: number; trainAcc: number; top1: number }>) => {
    const ids = Object.keys(jobs);
    fs.writeFileSync(path.join(dir, 'jobs'), ids.map((id) => `${id} | - | ${job(jobs[id].model, jobs[id].seed)}`).join('\n') + '\n');
    const ledger = Object.fromEntries(
      ids.map((id) => [id, { command: job(jobs[id].model, jobs[id].seed), history: [epoch(1, jobs[id].trainAcc, jobs[id].top1)] }]),
    );
    fs.mkdirSync(path.join(dir, 'results'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'results', 'campaign-ledger.json'), JSON.stringify({ jobs: ledger }));
    for (const args of [['--restore'], []]) {
      const r = spawnSync(process.execPath, [COLLECT, '--runs', path.join(dir, 'runs'), '--results', path.join(dir, 'results'), ...args], {
        env: { ...process.env, CAMPAIGN_JOBS: path.join(dir, 'jobs') },
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    return fs.readFileSync(path.join(dir, 'results', 'depth', 'report.md'), 'utf8');
  };
  const depthNets = {
    'depth/resnet20': { model: 'resnet20', trainAcc: 0.9504, top1: 0.9382 },
    'depth/resnet32': { model: 'resnet32', trainAcc: 0.951, top1: 0.938 },
    'depth/resnet56': { model: 'resnet56', trainAcc: 0.944, top1: 0.9314 },
  };

  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'campaign-depth-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('marks differences within twice the std of a difference of two seeds as level', () => {
    const seeds = {
      'shortcuts/A-s0': { model: 'a.json', seed: 0, trainAcc: 0.95, top1: 0.93 },
      'shortcuts/A-s1': { model: 'a.json', seed: 1, trainAcc: 0.951, top1: 0.9325 },
      'shortcuts/B-s0': { model: 'b.json', seed: 0, trainAcc: 0.952, top1: 0.931 },
      'shortcuts/B-s1': { model: 'b.json', seed: 1, trainAcc: 0.953, top1: 0.9335 },
    };
    const md = report({ ...seeds, ...depthNets });
    // Test error per seed: A 7.00 / 6.75 %, B 6.90 / 6.65 %: each option's sample std 0.18 points, so
    // a difference of two single-seed runs is level up to 2·√2·0.18 = 0.50 points.
    expect(md).toContain('test error grows with depth only from 32 to 56 layers (20: 6.18 % ≈ 32: 6.20 % < 56: 6.86 %)');
    expect(md).toContain('The paper: error falls with depth (Table 6) — not the same ordering here');
    expect(md).toMatch(/seed-to-seed std of the final error at 0\.18 points \(test\)/);
  });

  it('without seeds to measure the noise every difference counts', () => {
    const md = report(depthNets);
    expect(md).toContain('test error grows with depth (20: 6.18 % < 32: 6.20 % < 56: 6.86 %)');
    expect(md).toContain('train error is not monotonic in depth (20: 4.96 % > 32: 4.90 % < 56: 5.60 %)');
  });
});
