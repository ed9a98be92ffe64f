/**
 * The one atomic writer and stop signals, in child processes running core's files.ts (bundled from
 * source with esbuild): SIGINT or SIGTERM during a write removes the temporary file and the process
 * still dies by that signal (shell status 130 / 143), also when the write is synchronous; a signal
 * that arrives just after a write is not lost; a process with its own SIGINT listener (`resnet
 * train`'s Ctrl-C) keeps control of it, and its process.exit removes what is in flight; a process
 * that writes nothing, or has finished writing, has no listener of ours; with `removeDirIfEmpty` the
 * folder made for the file (a download's cache entry) goes too, when nothing else is in it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let dir: string;
let bundle: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-atomic-signals-'));
  bundle = path.join(dir, 'files.cjs');
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [path.join(__dirname, '..', 'src', 'node', 'files.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile: bundle,
    logLevel: 'silent',
  });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  files: string[];
}

/**
 * Runs `body` in a child (with `writeFileAtomic`, `fs`, `target` and `busy(ms)` in scope) in a fresh
 * folder; sends `signal` when the child prints `ready`. Resolves with how it ended and what is left.
 */
function runChild(body: string, signal?: NodeJS.Signals): Promise<Outcome> {
  const folder = fs.mkdtempSync(path.join(dir, 'w-'));
  const script = `
    const fs = require('node:fs');
    const { writeFileAtomic } = require(${JSON.stringify(bundle)});
    const target = ${JSON.stringify(path.join(folder, 'out.bin'))};
    const busy = (ms) => { const end = Date.now() + ms; while (Date.now() < end); };
    const say = (m) => fs.writeSync(1, m + '\\n');
    (async () => { ${body} })();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    const before = stdout;
    stdout += d.toString();
    if (signal && !before.includes('ready') && stdout.includes('ready')) child.kill(signal);
  });
  return new Promise((resolve) => child.on('close', (code, sig) => resolve({ code, signal: sig, stdout, files: fs.readdirSync(folder) })));
}

test.each(['SIGINT', 'SIGTERM'] as const)(
  '%s during a write: the temporary file is removed and the process dies by the signal',
  async (sig) => {
    const r = await runChild(
      `await writeFileAtomic(target, async (fd) => { fs.writeSync(fd, 'partial'); say('ready'); await new Promise((ok) => setTimeout(ok, 30000)); });`,
      sig,
    );
    expect([r.code, r.signal]).toEqual([null, sig]);
    expect(r.files).toEqual([]);
  },
);

test('SIGINT during a synchronous write: stopped before the rename, no file, no temporary, killed by SIGINT', async () => {
  const r = await runChild(
    `await writeFileAtomic(target, (fd) => { fs.writeSync(fd, 'partial'); say('ready'); busy(1500); }); say('renamed');`,
    'SIGINT',
  );
  expect([r.code, r.signal]).toEqual([null, 'SIGINT']);
  expect(r.stdout).not.toContain('renamed');
  expect(r.files).toEqual([]);
});

test('removeDirIfEmpty (a download cache entry): its folder goes with the temporary on SIGINT and on a failed write, unless another file is in it', async () => {
  const entry = `const path = require('node:path'); const entry = (name) => { const d = path.join(path.dirname(target), name); fs.mkdirSync(d); return d; };`;
  const stopped = await runChild(
    `${entry} await writeFileAtomic(path.join(entry('cache-entry'), 'w.bin'), async (fd) => { fs.writeSync(fd, 'partial'); say('ready'); await new Promise((ok) => setTimeout(ok, 30000)); }, { removeDirIfEmpty: true });`,
    'SIGINT',
  );
  expect([stopped.code, stopped.signal, stopped.files]).toEqual([null, 'SIGINT', []]);
  const failed = await runChild(
    `${entry} const keep = entry('keep'); fs.writeFileSync(path.join(keep, 'other.bin'), 'x');
    for (const d of [entry('cache-entry'), keep])
      await writeFileAtomic(path.join(d, 'w.bin'), (fd) => { fs.writeSync(fd, 'partial'); throw new Error('boom'); }, { removeDirIfEmpty: true }).catch(() => {});
    say('done');`,
  );
  expect([failed.code, failed.stdout, failed.files]).toEqual([0, 'done\n', ['keep']]);
});

test('SIGINT in a synchronous stretch right after a write is not lost: the process does not exit 0', async () => {
  const r = await runChild(
    `await writeFileAtomic(target, (fd) => fs.writeSync(fd, 'whole')); say('ready'); busy(1500); say('after');`,
    'SIGINT',
  );
  expect([r.code, r.signal]).toEqual([null, 'SIGINT']);
  expect(r.files).toEqual(['out.bin']); // complete before the signal: put in place, nothing else
});

test("a process's own SIGINT listener keeps control: the write completes; its process.exit removes a write in flight", async () => {
  const own = `process.on('SIGINT', () => say('own handler'));
    await writeFileAtomic(target, async (fd) => { fs.writeSync(fd, 'whole'); say('ready'); await new Promise((ok) => setTimeout(ok, 1000)); });`;
  const kept = await runChild(own, 'SIGINT');
  expect([kept.code, kept.signal]).toEqual([0, null]);
  expect(kept.stdout).toContain('own handler');
  expect(kept.files).toEqual(['out.bin']);
  const exits = `process.on('SIGINT', () => process.exit(130));
    await writeFileAtomic(target, async (fd) => { fs.writeSync(fd, 'partial'); say('ready'); await new Promise((ok) => setTimeout(ok, 30000)); });`;
  const quit = await runChild(exits, 'SIGINT');
  expect([quit.code, quit.signal]).toEqual([130, null]);
  expect(quit.files).toEqual([]);
});

test('two copies of the writer in one process (CommonJS and ESM builds, say), both writing: SIGTERM still ends it, both temporaries removed', async () => {
  const copy = path.join(dir, 'files-copy.cjs');
  fs.copyFileSync(bundle, copy);
  const r = await runChild(
    `const other = require(${JSON.stringify(copy)});
    const hang = async (fd) => { fs.writeSync(fd, 'partial'); await new Promise((ok) => setTimeout(ok, 30000)); };
    void other.writeFileAtomic(target + '.2', hang);
    await writeFileAtomic(target, async (fd) => { say('ready'); await hang(fd); });`,
    'SIGTERM',
  );
  expect([r.code, r.signal]).toEqual([null, 'SIGTERM']);
  expect(r.files).toEqual([]);
});

test('no listener is left before or after writes: a process that writes keeps the default Ctrl-C afterwards', async () => {
  const r = await runChild(
    `say('before ' + process.listenerCount('SIGINT') + ' ' + process.listenerCount('SIGTERM'));
    await writeFileAtomic(target, (fd) => fs.writeSync(fd, 'whole'));
    await new Promise((ok) => setImmediate(ok));
    await new Promise((ok) => setImmediate(ok));
    say('after ' + process.listenerCount('SIGINT') + ' ' + process.listenerCount('SIGTERM'));
    say('ready');
    setTimeout(() => say('not stopped'), 30000);`,
    'SIGINT',
  );
  expect(r.stdout).toContain('before 0 0');
  expect(r.stdout).toContain('after 0 0');
  expect([r.code, r.signal]).toEqual([null, 'SIGINT']);
  expect(r.files).toEqual(['out.bin']);
});
