/**
 * lineChart / barChart on the inputs an audit broke them with: a NaN or infinite error bar (the
 * finite points were drawn off the canvas), values outside a fixed yMin/yMax (drawn outside the
 * canvas), log-y with no positive value or yMin 0 (RangeError), 200,000 points (call stack
 * overflow in Math.min(...ys)), NaN x values and a NaN reference line ("NaN" coordinates), and a
 * one-point series (nothing drawn). The SVG text is parsed: every drawn coordinate in the viewBox
 * or clipped to the plot area, no NaN anywhere.
 */
import { barChart, lineChart } from '@resnet-ts/plot';

const num = (s: string, attr: string) => [...s.matchAll(new RegExp(` ${attr}="([^"]*)"`, 'g'))].map((m) => Number(m[1]));

/** The viewBox size, and the coordinates of every point of every polyline and circle. */
function parse(svg: string) {
  const [, W, H] = /viewBox="0 0 (\S+) (\S+)"/.exec(svg)!.map(Number);
  const pts = [...svg.matchAll(/points="([^"]*)"/g)].flatMap((m) => m[1].split(' ').map((p) => p.split(',').map(Number)));
  const circles = [...svg.matchAll(/<circle cx="([^"]*)" cy="([^"]*)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  return { W, H, pts, circles };
}

function expectInside(svg: string): void {
  expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  const { W, H, pts, circles } = parse(svg);
  for (const [x, y] of [...pts, ...circles]) {
    expect(x).toBeGreaterThanOrEqual(0);
    expect(x).toBeLessThanOrEqual(W);
    expect(y).toBeGreaterThanOrEqual(0);
    expect(y).toBeLessThanOrEqual(H);
  }
}

test('a NaN or infinite error bar leaves its point in the y range and is not drawn', () => {
  const svg = lineChart([{ name: 'a', y: [1, 2, 3], err: [0.5, NaN, Infinity], markers: true }], { title: 'err' });
  expectInside(svg);
  expect(parse(svg).circles).toHaveLength(3);
  // one error bar (the finite one), no others
  expect(svg.match(/<line x1="[^"]*" y1="[^"]*" x2="[^"]*" y2="[^"]*" stroke="#1f77b4" stroke-width="1"\/>/g)).toHaveLength(1);
  expect(svg).toContain('>3<');
});

test('values outside a fixed yMin/yMax are clipped to the plot area', () => {
  const svg = lineChart([{ name: 'a', y: [5, 50, 150] }], { yMin: 0, yMax: 100 });
  const id = /<clipPath id="([^"]+)">/.exec(svg)![1];
  expect(svg).toMatch(new RegExp(`<g clip-path="url\\(#${id}\\)">\\n<g class="series"`));
  expect(svg).not.toMatch(/NaN/);
});

test('log-y with no positive value draws empty axes and says why; yMin 0 on log-y falls back to the data', () => {
  const none = lineChart([{ name: 'a', y: [-1, 0] }], { title: 'neglog', logY: true });
  expectInside(none);
  expect(none).toContain('no positive values to draw on a log axis');
  const zero = lineChart([{ name: 'a', y: [1, 10] }], { logY: true, yMin: 0 });
  expectInside(zero);
  expect(zero).toContain('>1e0<');
  expect(zero).toContain('>1e1<');
  expect(parse(zero).pts).toHaveLength(2);
});

test('200,000 points plot without overflowing the stack', () => {
  const y = Array.from({ length: 200_000 }, (_, i) => i);
  const svg = lineChart([{ name: 'a', y }], {});
  expect(parse(svg).pts).toHaveLength(200_000);
  expect(barChart(['x'], [{ name: 'e', values: y }]).length).toBeGreaterThan(0);
});

test('NaN x values are dropped (the rest drawn, x ticks kept) and a NaN reference line is not drawn', () => {
  const svg = lineChart([{ name: 'a', x: [0, 1, NaN, 3], y: [1, 2, 3, 4] }]);
  expectInside(svg);
  expect(parse(svg).pts).toHaveLength(2);
  expect(parse(svg).circles).toHaveLength(1); // the 4 at x=3 has no neighbour: a marker
  expect(svg).toContain('>3<');
  const bar = barChart(['x'], [{ name: 'e', values: [0.1] }], { refLines: [{ name: 'base', value: NaN }] });
  expect(bar).not.toMatch(/NaN/);
  expect(bar).not.toContain('class="ref"');
  expect(bar).not.toContain('>base<');
  expect(num(bar, 'y1').every(Number.isFinite)).toBe(true);
});

test('a one-point series draws its point', () => {
  const svg = lineChart(
    [
      { name: 'plain', y: [0.61] },
      { name: 'res', x: [1], y: [0.5] },
    ],
    { title: '1 epoch' },
  );
  expectInside(svg);
  expect(parse(svg).circles).toHaveLength(2);
});
