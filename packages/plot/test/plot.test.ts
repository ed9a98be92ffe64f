import { barChart, curvesSvg, escapeXml, lineChart, niceTicks } from '@resnet-ts/plot';

/** A minimal well-formedness check: tags balance and attributes are quoted. */
function assertWellFormed(svg: string): void {
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)([^>]*?)(\/?)>/g)) {
    const [, close, name, attrs, self] = m;
    expect(attrs).not.toMatch(/=\s*[^"\s]/);
    if (close) expect(stack.pop()).toBe(name);
    else if (!self) stack.push(name);
  }
  expect(stack).toEqual([]);
  expect(svg).not.toMatch(/NaN|undefined|Infinity/);
}

describe('plots', () => {
  test('line chart: series, legend, dashes, title, labels', () => {
    const svg = lineChart(
      [
        { name: 'plain <A&B>', y: [3, 2, 1.5, 1.2], dash: 'dashed' },
        { name: 'residual', x: [0, 1, 2, 3], y: [3, 1, 0.5, 0.2], err: [0.1, 0.1, 0.1, 0.1], markers: true },
      ],
      { title: 'T', xLabel: 'step', yLabel: 'loss' },
    );
    assertWellFormed(svg);
    expect(svg).toContain('data-name="plain &lt;A&amp;B&gt;"');
    expect(svg).toContain('data-name="residual"');
    expect(svg).toContain('stroke-dasharray="7 4"');
    expect((svg.match(/<polyline/g) ?? []).length).toBe(2);
    expect(svg).toContain('>step<');
    expect(svg).toContain('>loss<');
    expect(svg).toContain('<circle');
  });

  test('log-y: decade ticks, non-positive points skipped, values placed by log10', () => {
    const svg = lineChart([{ name: 's', x: [0, 1, 2, 3], y: [1e-4, 1e-2, 0, 1] }], { logY: true, height: 420, title: 't' });
    assertWellFormed(svg);
    for (const t of ['1e-4', '1e-3', '1e-2', '1e-1', '1e0']) expect(svg).toContain(`>${t}<`);
    // the 0 splits the line into two segments: a line of two points and a lone point, drawn as a marker
    expect((svg.match(/<polyline/g) ?? []).length).toBe(1);
    expect((svg.match(/<circle/g) ?? []).length).toBe(1);
    const pts = [
      ...[...svg.matchAll(/points="([^"]+)"/g)].flatMap((m) => m[1].split(' ').map((p) => Number(p.split(',')[1]))),
      ...[...svg.matchAll(/<circle cx="[^"]+" cy="([^"]+)"/g)].map((m) => Number(m[1])),
    ];
    // equal log steps -> equal pixel steps: 1e-4 -> 1e-2 is twice 1e-2 -> ... check linear in log10
    const [y4, y2, y0] = pts;
    expect(Math.abs(y4 - y2 - (y2 - y0))).toBeLessThan(0.05);
  });

  test('bar chart with NaN gaps and reference lines', () => {
    const svg = barChart(
      ['a', 'b', 'c'],
      [
        { name: 'res', values: [0.1, NaN, 0.3] },
        { name: 'plain', values: [0.5, 0.9, NaN] },
      ],
      { refLines: [{ name: 'baseline', value: 0.08 }], title: 'x' },
    );
    assertWellFormed(svg);
    expect((svg.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#/g) ?? []).length).toBe(4);
    expect(svg).toContain('class="ref"');
  });

  test('training curves: loss and error panels, test dashed, non-finite epochs left out', () => {
    const svg = curvesSvg(
      [
        { epoch: 1, trainLoss: 2.1, testLoss: 2.3, trainAcc: 0.3, top1: 0.25 },
        { epoch: 2, trainLoss: 1.4, testLoss: NaN, trainAcc: 0.55, top1: 0.5 },
        { epoch: 3, trainLoss: 0.9, testLoss: 1.2, trainAcc: 0.7 },
      ],
      'Curves <3>',
    );
    assertWellFormed(svg);
    expect(svg).toContain('>Curves &lt;3&gt;<');
    expect(svg).toContain('>Loss<');
    expect(svg).toContain('>Error<');
    // 4 lines: train/test loss, train/test error; test dashed in both panels
    expect((svg.match(/<path /g) ?? []).length).toBe(4);
    expect((svg.match(/<path [^>]*stroke-dasharray="6 3"/g) ?? []).length).toBe(2);
    // points: 3 train loss + 2 finite test loss + 3 train error + 2 test error
    expect((svg.match(/<circle/g) ?? []).length).toBe(10);
    expect(curvesSvg([])).not.toContain('<path');
  });

  test('helpers', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(escapeXml('<"&>')).toBe('&lt;&quot;&amp;&gt;');
  });
});
