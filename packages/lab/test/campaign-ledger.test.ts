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
