#!/usr/bin/env node
// Writes a lab report's text (report.md) and its derived numbers again from the run's result.json,
// with the current report code: for when the rules that turn numbers into findings change (a noise
// rule, the standard deviation's convention) and the run itself took too long to repeat. The
// measurements are the run's; nothing is trained or measured. The command recorded is still the one
// that made the run, and a note in the report says when and how its text was rewritten.
// Usage: node scripts/experiments/rerender-report.cjs <report folder>...   (after `npm run build`)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const lab = require('../../packages/lab/dist/index.js');

/** Per experiment: the report's title, its plots and its body, from the stored result (mutated where derived values are recomputed). */
const RENDERERS = {
  identity: (result, dir) => ({
    title: 'Identity is hard, zero is easy',
    plots: keptPlots(dir),
    body: lab.identityBody(result),
  }),
  gradflow: (result) => {
    result.findings = lab.gradFlowFindings(result.measurements, result.nets, result.depths, result.settings, result.steps);
    const plots = lab.gradFlowPlots(result);
    return { title: 'Gradient flow: plain vs residual nets', plots: plots.svgs, body: lab.gradFlowBody(result, plots.dropped) };
  },
  transfer: (result, dir, info) => {
    result.summary = lab.summarize(result.runs);
    const limit = /--pretrain-test-limit[ =](\d+)/.exec(info.command);
    return {
      title: 'Transfer: pretrained vs scratch, frozen vs full fine-tuning',
      plots: { 'accuracy.svg': lab.accuracyPlot(result) },
      body: lab.reportBody(result, limit ? Number(limit[1]) : 1000),
    };
  },
};

/** The SVG files of a report folder, kept as they are. */
function keptPlots(dir) {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.svg'))
    .sort();
  return Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
}

async function main() {
  for (const dir of process.argv.slice(2)) {
    const { result, ...info } = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
    const render = RENDERERS[info.experiment];
    if (!render) {
      console.error(
        `rerender-report: ${dir} holds a '${info.experiment}' run; only ${Object.keys(RENDERERS).join(', ')} can be rewritten (run the others again).`,
      );
      process.exit(1);
    }
    const { title, plots, body } = render(result, dir, info);
    const stamp = `The text of this report was rewritten on ${new Date().toISOString().slice(0, 10)} from the run's result.json by \`node scripts/experiments/rerender-report.cjs ${dir}\` (the current rules for findings and spreads); the measurements are the run's.`;
    const earlier = (info.note ?? '').split('\n\n').filter((p) => p && !p.startsWith('The text of this report was rewritten'));
    const note = [...earlier, stamp].join('\n\n');
    await lab.writeReport(dir, { info: { ...info, note }, result, plots, title, body });
    console.log(`rewrote ${path.join(dir, 'report.md')}`);
  }
}

main().catch((e) => {
  console.error(`rerender-report: ${e.message}`);
  process.exitCode = 1;
});
