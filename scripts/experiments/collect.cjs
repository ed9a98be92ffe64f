// Reports of the papers' campaign, from its run folders (scripts/experiments/campaign.jobs):
// - docs/results/campaign-status.md: every job, done / running / waiting, its progress and pace;
// - docs/results/depth/: He et al. Table 6 / Fig. 6 at depths 20-110 (finished nets only in verdicts);
// - docs/results/shortcuts-seeds/: options A/B/C over seeds, mean ± std, and Table 3's ordering.
// Cheap (reads logs); run by scripts/experiments/campaign.sh after every job.
// Usage: node scripts/experiments/collect.cjs [--runs <dir>] [--results <dir>] [--app <dir>] [--print]
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const arg = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
// --app <dir>: the campaign's snapshot of the built packages (default: this working tree's).
const fromApp = (m) => require(require.resolve(m, { paths: [path.resolve(arg('--app') ?? ROOT)] }));
const { mdTable, pct, writeReport, writeAtomic, meanStd } = fromApp('@resnet-ts/lab');
const { lineChart, PALETTE } = fromApp('@resnet-ts/plot');
const RUNS = path.resolve(arg('--runs') ?? path.join(ROOT, 'runs', 'campaign'));
const RESULTS = path.resolve(arg('--results') ?? path.join(ROOT, 'docs', 'results'));
const TRAIN_IMAGES = 60000; // Fashion-MNIST's training set (no job uses --limit)
// Run folders (runs/campaign/, not in git) do not outlive the machine that ran them; the ledger (in git)
// keeps what each finished job leaves for the reports (a training run's per-epoch log), so a new
// checkout neither trains a finished net again nor drops it from the reports.
const LEDGER = path.join(RESULTS, 'campaign-ledger.json');
const CAMPAIGN_COMMAND = 'scripts/experiments/campaign.sh start (jobs: scripts/experiments/campaign.jobs)';
/** He et al. 2015, Table 6: CIFAR-10 test error (%) of the ResNets (best of 5 runs for 110). */
const PAPER_RESNET = { 20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43 };

function readJobs() {
  return fs
    .readFileSync(process.env.CAMPAIGN_JOBS ?? path.join(ROOT, 'scripts', 'experiments', 'campaign.jobs'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))
    .map((l) => {
      const [id, needs, ...cmd] = l.split('|').map((s) => s.trim());
      return { id, needs, cmd: cmd.join('|') };
    });
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** What a job's run folder says: state, epochs logged, steps, pace. */
function jobState(job) {
  const dir = path.join(RUNS, job.id);
  const exists = (f) => fs.existsSync(path.join(dir, f));
  const words = job.cmd.split(/\s+/);
  const flag = (f) => (words.includes(f) ? words[words.indexOf(f) + 1] : undefined);
  const isTrain = words[0] === 'train';
  const epochs = Number(flag('--epochs') ?? 30);
  const batch = Number(flag('--batch') ?? 128);
  const totalSteps = isTrain ? Math.round(epochs * Math.ceil(TRAIN_IMAGES / batch)) : undefined;
  let history = [];
  if (exists('log.jsonl'))
    history = fs
      .readFileSync(path.join(dir, 'log.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return []; // a torn last line
        }
      });
  let lockPid;
  try {
    lockPid = JSON.parse(fs.readFileSync(path.join(dir, '.resnet-run.lock'), 'utf8')).pid;
  } catch {
    lockPid = undefined;
  }
  const failures = Number(exists('.failures') ? fs.readFileSync(path.join(dir, '.failures'), 'utf8') : 0);
  const running = (lockPid !== undefined && alive(lockPid)) || (!isTrain && currentJobIs(dir));
  const state = exists('.done') ? 'done' : running ? 'running' : failures >= 5 ? 'failed' : history.length || exists('checkpoint.safetensors') ? 'interrupted' : 'pending';
  const seconds = history.reduce((s, m) => s + (m.seconds ?? 0), 0);
  const last = history[history.length - 1];
  const step = last?.step ?? 0;
  const ips = last?.imagesPerSec;
  const eta = totalSteps && ips && state !== 'done' ? ((totalSteps - step) * batch) / ips : undefined;
  return { ...job, dir, isTrain, epochs, totalSteps, history, state, seconds, step, ips, eta, failures };
}

function currentJobIs(dir) {
  try {
    const pid = Number(fs.readFileSync(path.join(RUNS, 'current.pid'), 'utf8'));
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return alive(pid) && cmd.includes(path.basename(dir));
  } catch {
    return false;
  }
}

const hours = (s) => (s === undefined ? '-' : s < 120 ? `${s.toFixed(0)} s` : s < 3600 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`);
const errOf = (m) => ({ train: 1 - m.trainAcc, test: m.top1 === undefined ? NaN : 1 - m.top1 });

function statusTable(states) {
  return mdTable(
    ['job', 'state', 'progress', 'last test error', 'time so far', 'img/s (last epoch)', 'left at that pace'],
    states.map((s) => [
      s.id,
      s.state + (s.failures && s.state !== 'done' ? ` (${s.failures} failed start${s.failures === 1 ? '' : 's'})` : ''),
      s.isTrain ? `epoch ${s.history.length}/${s.epochs} (step ${s.step}/${s.totalSteps})` : s.state === 'done' ? 'written' : '-',
      s.history.length ? pct(errOf(s.history[s.history.length - 1]).test) : '-',
      hours(s.seconds || undefined),
      s.ips ? s.ips.toFixed(0) : '-',
      hours(s.eta),
    ]),
  );
}

async function writeStatus(states) {
  const left = states.reduce((sum, s) => sum + (s.eta ?? 0), 0);
  const md = [
    '# Campaign status (generated)',
    '',
    `Written by \`scripts/experiments/collect.cjs\` at ${new Date().toISOString()} from the run folders (runs/campaign/, not in git). ` +
      'The plan and how to resume: [campaign.md](campaign.md). "left at that pace" uses the last logged epoch\'s images/s (shared, niced cores), and only for jobs that have logged an epoch.',
    '',
    statusTable(states),
    '',
    `Known time left (jobs with a logged epoch): ${hours(left)}.`,
    '',
  ].join('\n');
  await writeAtomic(path.join(RESULTS, 'campaign-status.md'), md);
  return md;
}

/**
 * The seed-to-seed standard deviation of a ResNet-20's final error ({test, train}), pooled over the
 * shortcut study's options (the mean of each option's sample variance over its seeds); null until two
 * options have two finished seeds. The depth report, one seed per net, uses it to tell an ordering
 * from noise.
 */
function seedNoise(states) {
  const runs = shortcutRuns(states);
  const groups = ['A', 'B', 'C'].map((o) => runs.filter((r) => r.option === o)).filter((g) => g.length >= 2);
  if (groups.length < 2) return null;
  const pooled = (key) => Math.sqrt(groups.reduce((a, g) => a + sampleStd(g.map((e) => e[key])) ** 2, 0) / groups.length);
  return { test: pooled('test'), train: pooled('train'), runs: groups.reduce((a, g) => a + g.length, 0) };
}

/** The sample standard deviation (n − 1) of `xs`. */
function sampleStd(xs) {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/** The shortcut study's finished runs: option, seed and final train/test error of each. */
function shortcutRuns(states) {
  return states
    .filter((s) => s.id.startsWith('shortcuts/') && s.state === 'done' && s.history.length)
    .map((s) => {
      const [, option, seed] = /shortcuts\/([ABC])-s(\d+)/.exec(s.id) ?? [];
      return { s, option, seed: Number(seed), ...errOf(s.history[s.history.length - 1]) };
    });
}

async function depthReport(states) {
  const nets = states.filter((s) => s.id.startsWith('depth/') && s.history.length);
  if (!nets.length) return;
  const info = (s) => {
    const name = s.id.slice('depth/'.length);
    const family = name.startsWith('plain') ? 'plain' : 'resnet';
    return { s, name, family, depth: Number(name.replace(/\D/g, '')), ...errOf(s.history[s.history.length - 1]) };
  };
  const all = nets.map(info).sort((a, b) => (a.family === b.family ? a.depth - b.depth : a.family < b.family ? -1 : 1));
  const depths = [...new Set(all.map((n) => n.depth))].sort((a, b) => a - b);
  const color = (d) => PALETTE[depths.indexOf(d) % PALETTE.length];
  const curves = (family) =>
    all
      .filter((n) => n.family === family)
      .flatMap((n) => {
        // Epochs are 1-based in histories written since the train package numbered them like the console; older ones start at 0.
        const x = n.s.history.map((m) => m.epoch + (n.s.history[0]?.epoch === 0 ? 1 : 0));
        return [
          { name: `${n.name} train`, x, y: n.s.history.map((m) => 100 * errOf(m).train), dash: 'dashed', color: color(n.depth) },
          { name: `${n.name} test`, x, y: n.s.history.map((m) => 100 * errOf(m).test), color: color(n.depth) },
        ];
      });
  const done = all.filter((n) => n.s.state === 'done');
  const vsDepth = (family, key) => {
    const f = done.filter((n) => n.family === family);
    return { x: f.map((n) => n.depth), y: f.map((n) => 100 * n[key]) };
  };
  const plots = {
    'plain.svg': lineChart(curves('plain'), { title: 'Plain nets on Fashion-MNIST (dashed: train, solid: test)', xLabel: 'epoch', yLabel: 'error (%)', yMin: 0 }),
    'resnet.svg': lineChart(curves('resnet'), { title: 'ResNets on Fashion-MNIST (dashed: train, solid: test)', xLabel: 'epoch', yLabel: 'error (%)', yMin: 0 }),
    'error-vs-depth.svg': lineChart(
      [
        { name: 'plain test', ...vsDepth('plain', 'test'), dash: 'dashed', color: PALETTE[1], markers: true },
        { name: 'ResNet test', ...vsDepth('resnet', 'test'), color: PALETTE[0], markers: true },
        { name: 'plain train', ...vsDepth('plain', 'train'), dash: 'dotted', color: PALETTE[1], markers: true },
        { name: 'ResNet train', ...vsDepth('resnet', 'train'), dash: 'dotted', color: PALETTE[0], markers: true },
      ],
      { title: 'Final error vs depth (finished runs)', xLabel: 'depth (layers)', yLabel: 'error (%)', yMin: 0 },
    ),
  };
  // Two single-seed runs whose errors differ by at most twice the std of a difference (2·√2·σ, σ the
  // seed-to-seed std) are level (≈): the ordering says only what the noise cannot explain.
  const noise = seedNoise(states);
  const tie = (key) => (noise ? 2 * Math.SQRT2 * noise[key] : 0);
  const trend = (family) => {
    const f = done.filter((n) => n.family === family);
    if (f.length < 2) return `- ${family === 'plain' ? 'Plain nets' : 'ResNets'}: fewer than two finished runs so far; no verdict yet.`;
    const stepsOf = (key) =>
      f.slice(1).map((n, i) => {
        const d = n[key] - f[i][key];
        return Math.abs(d) <= tie(key) ? '≈' : d > 0 ? '<' : '>';
      });
    const byKey = { train: stepsOf('train'), test: stepsOf('test') };
    const steps = (key) => byKey[key];
    const chain = (key) => f.map((n, i) => `${i ? ` ${steps(key)[i - 1]} ` : ''}${n.depth}: ${pct(n[key])}`).join('');
    // Where only some steps move beyond the noise, say which (e.g. "grows with depth only from 44 to 56 layers").
    const between = (key, c) =>
      steps(key)
        .map((st, i) => (st === c ? `from ${f[i].depth} to ${f[i + 1].depth}` : null))
        .filter(Boolean)
        .join(' and ');
    const word = (key) => {
      const [up, down] = ['<', '>'].map((c) => steps(key).includes(c));
      const only = steps(key).includes('≈') ? (c) => ` only ${between(key, c)} layers` : () => '';
      return up && down ? 'is not monotonic in depth' : up ? `grows with depth${only('<')}` : down ? `falls with depth${only('>')}` : 'is level within the seed noise';
    };
    const paper = family === 'plain' ? 'The paper: error grows with depth (degradation)' : 'The paper: error falls with depth (Table 6)';
    const ok = family === 'plain' ? word('train').startsWith('grows') : word('test').startsWith('falls');
    return (
      `- ${family === 'plain' ? 'Plain nets' : 'ResNets'}: train error ${word('train')} (${chain('train')}); test error ${word('test')} (${chain('test')}). ` +
      `${paper} — ${ok ? 'the same ordering here' : 'not the same ordering here'}.`
    );
  };
  const gaps = depths.flatMap((d) => {
    const p = done.find((n) => n.family === 'plain' && n.depth === d);
    const r = done.find((n) => n.family === 'resnet' && n.depth === d);
    if (!p || !r) return [];
    return [`- Depth ${d}: ResNet-${d} train ${pct(r.train)} / test ${pct(r.test)} vs plain-${d} train ${pct(p.train)} / test ${pct(p.test)}.`];
  });
  const ship = done
    .filter((n) => n.family === 'resnet' && (n.depth === 56 || n.depth === 110))
    .map(
      (n) =>
        `- Zoo: ResNet-${n.depth} reached ${pct(1 - n.test)} test accuracy vs the shipped resnet20-fashion-mnist's 93.58 %: ` +
        (1 - n.test > 0.9358 ? `better — ship it as resnet${n.depth}-fashion-mnist (weights: runs/campaign/${n.s.id}/model.safetensors; see campaign.md).` : 'not better — not shipped.'),
    );
  const body = [
    'Plain-N and ResNet-N (CIFAR layout: 3 stages of (N−2)/6 basic blocks at 16/32/64 channels, option A shortcuts) trained on all 60,000 Fashion-MNIST training images ' +
      '(28×28 zero-padded to 32×32, pad-4 crop + flip) with the same recipe: 20 epochs of batch 128 (9,380 steps; the paper: 64,000 on CIFAR-10), SGD momentum 0.9, weight decay 1e-4, ' +
      'lr 0.1 divided by 10 at 50 % and 75 %, seed 0; ResNet-110 holds lr 0.01 for its first epoch (the paper\'s warm-up). Test error on the 10,000 test images after the last epoch; ' +
      'train error = 1 − the running accuracy of the last epoch (augmented images, train mode), as in the paper\'s curves. One seed per net. ' +
      'He et al. Table 6 (CIFAR-10 test error): ResNet-20 8.75 %, 32 7.51 %, 44 7.17 %, 56 6.97 %, 110 6.43 %; Fig. 6 left: plain nets\' error grows with depth. ' +
      'Fashion-MNIST differs from CIFAR-10, so the orderings are compared, not the numbers.',
    '',
    mdTable(
      ['net', 'state', 'epochs', 'train error', 'test error', 'paper (CIFAR-10 test)', 'training time'],
      all.map((n) => [
        n.name,
        n.s.state,
        `${n.s.history.length}/${n.s.epochs}`,
        pct(n.train),
        pct(n.test),
        n.family === 'resnet' && PAPER_RESNET[n.depth] ? `${PAPER_RESNET[n.depth]} %` : '-',
        hours(n.s.seconds),
      ]),
    ),
    '',
    noise
      ? `**Findings** (finished runs only; one seed per net. The shortcut study ([shortcuts-seeds](../shortcuts-seeds/), ${noise.runs} ResNet-20 runs) puts the seed-to-seed std of the final error at ${(100 * noise.test).toFixed(2)} points (test) and ${(100 * noise.train).toFixed(2)} (train), so two nets whose errors differ by at most ${(100 * tie('test')).toFixed(2)} / ${(100 * tie('train')).toFixed(2)} points, twice the std of such a difference, are level (≈); < and > mark larger differences):`
      : '**Findings** (finished runs only; one seed per net, so test-error differences of a few tenths of a point are within seed noise — the shortcut study over 3 seeds ([shortcuts-seeds](../shortcuts-seeds/)) measures that noise for ResNet-20):',
    '',
    trend('resnet'),
    trend('plain'),
    ...gaps,
    ...ship,
    '',
    '## Commands',
    '',
    'Each net (run by `scripts/experiments/campaign.sh`, niced, resumable):',
    '',
    ...all.map((n) => `- ${n.name}: \`resnet ${n.s.cmd} --out runs/campaign/${n.s.id}\``),
  ].join('\n');
  const seconds = all.reduce((s, n) => s + n.s.seconds, 0);
  const runInfo = { experiment: 'depth', command: CAMPAIGN_COMMAND, engine: 'native', seed: 0, date: new Date().toISOString(), wallSeconds: seconds, trainingSeconds: seconds };
  const result = all.map((n) => ({ net: n.name, state: n.s.state, command: `resnet ${n.s.cmd}`, trainError: n.train, testError: n.test, history: n.s.history }));
  await writeReport(path.join(RESULTS, 'depth'), { info: runInfo, result, plots, title: 'Depth: plain vs residual nets at 20-110 layers (He et al. Table 6, Fig. 6)', body });
}


/**
 * Table 3's ordering (A > B > C in error) tested pair by pair: a pair counts as ordered when its
 * means differ by more than twice their standard error (sample std over seeds, Welch), else it is
 * within the seed noise.
 */
function shortcutVerdict(per) {
  const sorted = [...per].sort((a, b) => b.test.mean - a.test.mean).map((p) => p.option);
  const pairs = [['A', 'B'], ['B', 'C'], ['A', 'C']].map(([x, y]) => {
    const [px, py] = [x, y].map((o) => per.find((p) => p.option === o));
    const diff = px.test.mean - py.test.mean;
    const se = Math.sqrt(sampleStd(px.runs.map((r) => r.test)) ** 2 / px.n + sampleStd(py.runs.map((r) => r.test)) ** 2 / py.n);
    const resolved = Math.abs(diff) > 2 * se;
    const what = !resolved ? 'within the seed noise' : diff > 0 ? `${x} > ${y} as in Table 3` : `${y} > ${x}, the opposite of Table 3`;
    return { resolved, agrees: resolved && diff > 0, text: `${x} − ${y} = ${(100 * diff).toFixed(2)} ± ${(100 * se).toFixed(2)} points (${what})` };
  });
  const agree = pairs.filter((p) => p.agrees).length;
  const against = pairs.filter((p) => p.resolved && !p.agrees).length;
  const summary =
    against > 0
      ? 'Table 3\'s ordering does not hold here'
      : agree === 3
        ? 'Table 3\'s ordering holds here'
        : 'No pair contradicts Table 3, but not every pair is resolved';
  return (
    `Mean test error, highest first: ${sorted.join(' > ')} (Table 3: A > B > C, i.e. 25.03 / 24.52 / 24.19 % top-1 on ImageNet with ResNet-34). ` +
    `Pair by pair (difference ± standard error over seeds; a pair is ordered when the difference exceeds twice its standard error): ${pairs.map((p) => p.text).join('; ')}. ` +
    `${summary}; the gaps are a few tenths of a point, as in the paper, where projections are "not essential".`
  );
}

async function shortcutsReport(states) {
  const runs = shortcutRuns(states);
  if (!runs.length) return;
  const per = ['A', 'B', 'C'].map((o) => {
    const r = runs.filter((x) => x.option === o);
    return { option: o, n: r.length, seeds: r.map((x) => x.seed), test: meanStd(r.map((x) => x.test)), train: meanStd(r.map((x) => x.train)), runs: r };
  });
  const ready = per.filter((p) => p.n >= 2);
  const verdict = ready.length === 3 ? shortcutVerdict(per) : 'Fewer than two finished seeds per option so far: no ranking yet.';
  const body = [
    'ResNet-20 (CIFAR layout) with shortcut option A (zero-padding identity), B (projection where the shape changes) or C (projection everywhere), ' +
      'trained on all 60,000 Fashion-MNIST training images for 10 epochs (4,690 steps of 128; lr 0.1 divided by 10 at 50 % and 75 %, momentum 0.9, weight decay 1e-4, pad-4 crop + flip); ' +
      'seed s sets the weight initialisation, the shuffling and the augmentation. Finished runs only.',
    '',
    mdTable(
      ['option', 'seeds', 'test error mean ± std', 'train error mean ± std', 'per seed (test)'],
      per.map((p) => [
        p.option,
        p.seeds.join(', ') || '-',
        p.n ? `${pct(p.test.mean)} ± ${(100 * p.test.std).toFixed(2)}` : '-',
        p.n ? `${pct(p.train.mean)} ± ${(100 * p.train.std).toFixed(2)}` : '-',
        p.runs.map((r) => pct(r.test)).join(', ') || '-',
      ]),
    ),
    '',
    `**Finding:** ${verdict}`,
    '',
    '## Commands',
    '',
    ...runs.map((r) => `- ${r.s.id}: \`resnet ${r.s.cmd} --out runs/campaign/${r.s.id}\``),
  ].join('\n');
  const seconds = runs.reduce((s, r) => s + r.s.seconds, 0);
  const info = { experiment: 'shortcuts-seeds', command: CAMPAIGN_COMMAND, engine: 'native', seed: 0, date: new Date().toISOString(), wallSeconds: seconds, trainingSeconds: seconds };
  const plots = {
    'error.svg': lineChart(
      per.map((p, i) => ({ name: `option ${p.option}: test error per seed`, x: p.runs.map((r) => r.seed), y: p.runs.map((r) => 100 * r.test), color: PALETTE[i], markers: true })),
      { title: 'Shortcut options A/B/C: test error per seed', xLabel: 'seed', yLabel: 'test error (%)' },
    ),
  };
  const result = per.map((p) => ({ option: p.option, seeds: p.seeds, test: p.test, train: p.train, runs: p.runs.map((r) => ({ seed: r.seed, test: r.test, train: r.train, command: `resnet ${r.s.cmd}` })) }));
  await writeReport(path.join(RESULTS, 'shortcuts-seeds'), { info, result, plots, title: 'Shortcut options A/B/C over seeds (He et al. Table 3)', body });
}

function readLedger() {
  try {
    return JSON.parse(fs.readFileSync(LEDGER, 'utf8')).jobs ?? {};
  } catch {
    return {};
  }
}

/** Records every finished job in the ledger; entries of jobs whose run folders are gone stay. */
async function updateLedger(states) {
  const jobs = readLedger();
  for (const s of states) if (s.state === 'done') jobs[s.id] = { command: s.cmd, ...(s.isTrain ? { history: s.history } : {}) };
  const note = 'Finished campaign jobs (scripts/experiments/collect.cjs writes this; campaign.sh restores run folders from it). A training job keeps its per-epoch log, not its weights.';
  await writeAtomic(LEDGER, JSON.stringify({ note, jobs }, null, 1) + '\n');
}

/**
 * Marks as done the jobs the ledger records as finished with the same command, writing their
 * per-epoch logs back, so the driver skips them and the reports keep them. Their weights are not
 * restored: campaign.sh holds back a job that needs them (`needs` in campaign.jobs) and says so.
 */
function restore(jobs) {
  const ledger = readLedger();
  for (const job of jobs) {
    const entry = ledger[job.id];
    const dir = path.join(RUNS, job.id);
    if (!entry || entry.command !== job.cmd || fs.existsSync(path.join(dir, '.done'))) continue;
    fs.mkdirSync(dir, { recursive: true });
    if (entry.history) fs.writeFileSync(path.join(dir, 'log.jsonl'), entry.history.map((m) => JSON.stringify(m) + '\n').join(''));
    fs.writeFileSync(path.join(dir, '.restored'), `restored from ${path.relative(ROOT, LEDGER)}: finished in an earlier sitting; weights not kept\n`);
    fs.writeFileSync(path.join(dir, '.done'), '');
    console.log(`${new Date().toISOString()} ${job.id}: done in an earlier sitting (restored from the ledger)`);
  }
}

async function main() {
  if (process.argv.includes('--restore')) return restore(readJobs());
  const states = readJobs().map(jobState);
  await updateLedger(states);
  const md = await writeStatus(states);
  await depthReport(states);
  await shortcutsReport(states);
  if (process.argv.includes('--print')) process.stdout.write(md);
}

main().catch((e) => {
  console.error(`collect: ${e.message}`);
  process.exitCode = 1;
});
