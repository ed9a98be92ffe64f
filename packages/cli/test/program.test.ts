/**
 * The command table loads only what a command line needs: `resnet predict` does not load the trainer,
 * the lab or the ONNX writer (their loading is most of a cold start), while help and an unknown
 * command still see every command. Runs the built CLI (`npx tsc -b packages/cli` first).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { commandLoaders } from '../src/commands/index.js';

const dist = path.join(__dirname, '..', 'dist');

/** The @resnet-ts packages a fresh process has loaded after building the program for `name`. */
function packagesLoadedFor(name: string | null): string[] {
  const script = `
    require(${JSON.stringify(path.join(dist, 'program.js'))}).buildProgram(${name === null ? '' : JSON.stringify(name)});
    const names = Object.keys(require.cache).map((f) => (f.match(/packages\\/([\\w-]+)\\/dist\\//) || [])[1]).filter(Boolean);
    process.stdout.write(JSON.stringify([...new Set(names)].sort()));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as string[];
}

test('predict loads neither the trainer, the lab nor the ONNX writer; train and lab load theirs', () => {
  const predict = packagesLoadedFor('predict');
  expect(predict).toEqual(expect.arrayContaining(['cli', 'core', 'zoo']));
  for (const heavy of ['train', 'lab', 'onnx']) expect(predict).not.toContain(heavy);
  expect(packagesLoadedFor('train')).toContain('train');
  expect(packagesLoadedFor('lab')).toContain('lab');
});

test('without a known command name every command is registered (help, unknown command)', () => {
  expect(packagesLoadedFor(null)).toEqual(expect.arrayContaining(['train', 'lab', 'onnx']));
  const r = spawnSync(process.execPath, [path.join(dist, 'bin.js'), '--help'], { encoding: 'utf8' });
  for (const name of Object.keys(commandLoaders)) expect(r.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  const unknown = spawnSync(process.execPath, [path.join(dist, 'bin.js'), 'predcit', 'x.png'], { encoding: 'utf8' });
  expect(unknown.status).toBe(1);
  expect(unknown.stderr.trim()).toMatch(/^resnet: unknown command 'predcit'/);
});
