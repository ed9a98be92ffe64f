import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmtNum, fmtSeconds, jsonReplacer, mdTable, pct, portablePaths, writeAtomic, writeReport } from '../src/report.js';

test('writeReport writes result.json, plots and report.md atomically', async () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lab-report-')), 'nested');
  const info = { experiment: 'x', command: 'resnet lab x', engine: 'cpu', seed: 1, date: '2026-01-01T00:00:00.000Z', wallSeconds: 1.25 };
  const files = await writeReport(dir, {
    info,
    result: { big: 2n ** 60n, nan: NaN },
    plots: { 'a.svg': '<svg xmlns="http://www.w3.org/2000/svg"></svg>' },
    title: 'T',
    body: 'body',
  });
  const json = JSON.parse(fs.readFileSync(files.json, 'utf8'));
  expect(json).toMatchObject({ ...info, result: { big: '1152921504606846976', nan: 'NaN' } });
  const md = fs.readFileSync(files.markdown, 'utf8');
  expect(md).toContain('# T');
  expect(md).toContain('![a.svg](a.svg)');
  expect(md).toContain('`resnet lab x`');
  expect(md).toContain('| wall time | 1.3 s |');
  expect(fs.readdirSync(dir).sort()).toEqual(['a.svg', 'report.md', 'result.json']);
  await writeAtomic(files.json, 'again');
  expect(fs.readFileSync(files.json, 'utf8')).toBe('again');
  // Core's one writer: what a killed write left (its temporary file, of a process that is gone) is removed by the next write.
  const stale = path.join(dir, '.report.md.2147483646.k1lled.tmp');
  fs.writeFileSync(stale, 'half a report');
  // And one of the lab's former writer, as older report folders hold them.
  const former = path.join(dir, 'result.json.tmp-2147483646-1764900000000');
  fs.writeFileSync(former, '{"half": ');
  await writeReport(dir, { info, result: {}, plots: {}, title: 'T', body: '' });
  expect(fs.existsSync(stale)).toBe(false);
  expect(fs.existsSync(former)).toBe(false);
  expect(fs.readdirSync(dir).sort()).toEqual(['a.svg', 'report.md', 'result.json']);
  fs.rmSync(path.dirname(dir), { recursive: true });
});

test('a resumable training experiment shows the wall time of the whole run (all invocations), not of the last one', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-report-'));
  const info = { experiment: 'x', command: 'c', engine: 'cpu', seed: 0, date: 'd', wallSeconds: 2, trainingSeconds: 4200.4 };
  const files = await writeReport(dir, { info, result: {}, plots: {}, title: 'T', body: '' });
  const md = fs.readFileSync(files.markdown, 'utf8');
  expect(md).toContain('| training time | 4,200 s (1.2 h): training and evaluation of all nets over all (resumed) invocations, from their epoch logs |');
  expect(md).not.toContain('this invocation');
  expect(md).not.toContain('2.0 s');
  fs.rmSync(dir, { recursive: true });
});

test('reports carry no machine paths: inside the working folder relative, elsewhere <dir>/ and the last two parts', async () => {
  const cwd = process.cwd();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-report-'));
  const inside = path.join(cwd, 'runs', 'lab', 'r56', 'model.safetensors');
  const info = { experiment: 'x', command: `resnet lab lesion --weights ${inside} --out ${dir}`, engine: 'cpu', seed: 0, date: 'd', wallSeconds: 1 };
  const files = await writeReport(dir, {
    info,
    result: { dir: '/srv/machine/runs/resnet56', ratio: 'a/b and ‖W − I‖/‖I‖, https://example.com/x/y' },
    plots: {},
    title: 'T',
    body: `ResNet-56 (weights ${inside}) from /srv/machine/runs/resnet56.`,
  });
  const md = fs.readFileSync(files.markdown, 'utf8');
  const json = fs.readFileSync(files.json, 'utf8');
  for (const text of [md, json]) {
    expect(text).not.toContain(cwd + '/');
    expect(text).not.toContain('/srv/machine');
    expect(text).not.toMatch(/(^|[\s`'"(=,])\/[\w.-]+\/\w/m); // no word starts with an absolute path
    expect(text).toContain('runs/lab/r56/model.safetensors');
  }
  expect(md).toContain('from <dir>/runs/resnet56.');
  expect(md).toContain(`--out <dir>/${path.basename(path.dirname(dir))}/${path.basename(dir)}`);
  expect(JSON.parse(json).result).toEqual({ dir: '<dir>/runs/resnet56', ratio: 'a/b and ‖W − I‖/‖I‖, https://example.com/x/y' });
  expect(portablePaths('1/3 seeds, lr /10, /x')).toBe('1/3 seeds, lr /10, /x');
  fs.rmSync(dir, { recursive: true });
});

test('formatting helpers', () => {
  expect(mdTable(['a', 'b'], [[1, 'x|y']])).toBe('| a | b |\n|---|---|\n| 1 | x\\|y |');
  expect(fmtNum(0.000123)).toBe('1.23e-4');
  expect(fmtNum(3.14159)).toBe('3.142');
  expect(fmtNum(60192808)).toBe('60192808');
  expect(fmtNum(289504515452260900)).toBe('2.90e+17');
  expect(pct(0.1234)).toBe('12.34 %');
  expect(fmtSeconds(2.04)).toBe('2.0 s');
  expect(fmtSeconds(325.4)).toBe('325 s');
  expect(fmtSeconds(4177)).toBe('4,177 s (1.2 h)');
  expect(jsonReplacer('', 5n)).toBe('5');
});
