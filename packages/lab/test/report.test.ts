import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmtNum, jsonReplacer, mdTable, pct, writeAtomic, writeReport } from '../src/report.js';

test('writeReport writes result.json, plots and report.md atomically', () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lab-report-')), 'nested');
  const info = { experiment: 'x', command: 'resnet lab x', engine: 'cpu', seed: 1, date: '2026-01-01T00:00:00.000Z', wallSeconds: 1.25 };
  const files = writeReport(dir, {
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
  writeAtomic(files.json, 'again');
  expect(fs.readFileSync(files.json, 'utf8')).toBe('again');
  fs.rmSync(path.dirname(dir), { recursive: true });
});

test('a resumable training experiment shows its training time over all invocations next to this one\'s wall time', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-report-'));
  const info = { experiment: 'x', command: 'c', engine: 'cpu', seed: 0, date: 'd', wallSeconds: 2, trainingSeconds: 4200.4 };
  const files = writeReport(dir, { info, result: {}, plots: {}, title: 'T', body: '' });
  const md = fs.readFileSync(files.markdown, 'utf8');
  expect(md).toContain('| wall time | 2.0 s (this invocation) |');
  expect(md).toContain('| training time | 4200 s (all nets, all invocations, from the epoch logs) |');
  fs.rmSync(dir, { recursive: true });
});

test('formatting helpers', () => {
  expect(mdTable(['a', 'b'], [[1, 'x|y']])).toBe('| a | b |\n|---|---|\n| 1 | x\\|y |');
  expect(fmtNum(0.000123)).toBe('1.23e-4');
  expect(fmtNum(3.14159)).toBe('3.142');
  expect(fmtNum(60192808)).toBe('60192808');
  expect(fmtNum(289504515452260900)).toBe('2.90e+17');
  expect(pct(0.1234)).toBe('12.34 %');
  expect(jsonReplacer('', 5n)).toBe('5');
});
