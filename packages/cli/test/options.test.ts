/**
 * The option validator (src/options.ts): each kind's accepted range and its one-line error, and a
 * walk over every command of the real program proving that no value-taking option skips it.
 */
import os from 'node:os';
import type { Command, Option } from 'commander';
import { runCli } from './cli-run';
import { buildProgram } from '../src/program.js';
import { CIFAR_DEPTH, VALIDATED, choice, choiceList, inputSize, integer, integerList, number, text } from '../src/options.js';

const refuses = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('accepted');
};

test('integer: whole decimal numbers in range; 0, negatives, fractions, hex, words, empty text and overflow are refused', () => {
  const batch = integer(1, 65536);
  expect(batch.parse('128', '--batch')).toBe(128);
  expect(batch.parse('1e3', '--batch')).toBe(1000);
  for (const bad of ['0', '-1', '1.5', 'abc', '', ' ', '0x10', 'Infinity', 'NaN', '1e9', '65537'])
    expect(refuses(() => batch.parse(bad, '--batch'))).toMatch(/^--batch must be an integer from 1 to 65536; got /);
  expect(refuses(() => batch.parse('0', '--batch'))).toBe('--batch must be an integer from 1 to 65536; got 0');
  // 0 is accepted where it means something (documented on the option), e.g. --checkpoint-every 0.
  expect(integer(0, 10).parse('0', '--checkpoint-every')).toBe(0);
  const depth = integer(8, 10000, CIFAR_DEPTH);
  expect(depth.parse('56', '--depth')).toBe(56);
  expect(refuses(() => depth.parse('21', '--depth'))).toMatch(/6n\+2/);
});

test('number: finite decimals within inclusive and exclusive bounds', () => {
  const momentum = number({ min: 0, below: 1 });
  expect(momentum.parse('0', '--momentum')).toBe(0);
  expect(momentum.parse('0.9', '--momentum')).toBe(0.9);
  for (const bad of ['-1', '1', '5', 'x', '', 'Infinity', '1e999'])
    expect(refuses(() => momentum.parse(bad, '--momentum'))).toMatch(/^--momentum must be a number >= 0 and < 1; got /);
  expect(refuses(() => number({ above: 0 }).parse('0', '--lr'))).toBe('--lr must be a number > 0; got 0');
});

test('choices, lists, text and input sizes', () => {
  expect(choice(['nchw', 'nhwc']).parse('nhwc', '--layout')).toBe('nhwc');
  expect(refuses(() => choice(['nchw', 'nhwc']).parse('NCHW', '--layout'))).toBe('--layout must be one of nchw, nhwc; got NCHW');
  expect(integerList(8, 1000, CIFAR_DEPTH).parse('20, 56', '--depths')).toEqual([20, 56]);
  expect(refuses(() => integerList(8, 1000, CIFAR_DEPTH).parse('20,,56', '--depths'))).toMatch(/^--depths must be/);
  expect(choiceList(['A', 'B', 'C']).parse('A,C', '--options')).toEqual(['A', 'C']);
  expect(refuses(() => choiceList(['A', 'B', 'C']).parse('A,D', '--options'))).toMatch(/^--options must be/);
  // A repeat would be run again, or counted as another seed: refused, naming it.
  expect(refuses(() => integerList(0, 10).parse('0,1,0', '--seeds'))).toBe('--seeds lists 0 twice: give each value once; got 0,1,0');
  expect(refuses(() => integerList(8, 1000, CIFAR_DEPTH).parse('20, 20', '--depths'))).toMatch(/^--depths lists 20 twice/);
  expect(refuses(() => choiceList(['A', 'B', 'C']).parse('A,A', '--options'))).toBe(
    '--options lists A twice: give each value once; got A,A',
  );
  expect(refuses(() => text().parse('', '--model'))).toMatch(/^--model must be a name or path \(not empty\); got ''/);
  expect(inputSize().parse('28x28x1', '--input')).toEqual([28, 28, 1]);
  expect(inputSize().parse('32x32', '--input')).toEqual([32, 32, undefined]);
  for (const bad of ['0x0', '32x0', '32x32x0', '-1x3', '32', 'axb'])
    expect(refuses(() => inputSize().parse(bad, '--input'))).toMatch(/^--input must be HxW or HxWxC/);
});

/** Every sub-command (recursively: `lab degradation`, ...) with its full name. */
function allCommands(cmd: Command, prefix = ''): [string, Command][] {
  return cmd.commands.flatMap((c) => {
    const name = `${prefix}${c.name()}`;
    return [[name, c] as [string, Command], ...allCommands(c, `${name} `)];
  });
}

test('every option that takes a value, in every command, is declared through options.ts', () => {
  const commands = allCommands(buildProgram());
  expect(commands.map(([n]) => n)).toEqual(
    expect.arrayContaining([
      'train',
      'eval',
      'predict',
      'forward',
      'convert',
      'export-onnx',
      'summary',
      'models',
      'bench',
      'lab degradation',
    ]),
  );
  const unchecked: string[] = [];
  let checked = 0;
  for (const [name, cmd] of commands) {
    for (const o of cmd.options as (Option & { parseArg?: unknown })[]) {
      if (!o.required && !o.optional) continue; // a flag: takes no value
      if ((o.parseArg as { [VALIDATED]?: boolean } | undefined)?.[VALIDATED]) checked++;
      else unchecked.push(`${name} ${o.long}`);
    }
  }
  expect(unchecked).toEqual([]);
  expect(checked).toBeGreaterThan(60);
});

test('an option given twice with two values is one line naming both, in every command; the same value twice passes the check', async () => {
  const refusal = async (argv: string[]) => {
    try {
      await buildProgram(argv[0]).parseAsync(['node', 'resnet', ...argv]);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('accepted');
  };
  expect(await refusal(['train', '--lr', '0.1', '--batch', '8', '--lr', '0.01'])).toBe(
    '--lr was given twice (0.1 and 0.01); give it once.',
  );
  expect(await refusal(['train', '--lr=0.1', '--lr', '0.01'])).toBe('--lr was given twice (0.1 and 0.01); give it once.');
  expect(await refusal(['lab', 'lesion', '--max-k', '3', '--max-k=4'])).toBe('--max-k was given twice (3 and 4); give it once.');
  // An optional value left out once is another value: `--resume runs/a --resume` would resume another run.
  expect(await refusal(['train', '--resume', 'runs/a', '--resume'])).toBe(
    '--resume was given twice (runs/a and (no value)); give it once.',
  );
  expect(await refusal(['predict', '--crop', '64', '--crop=48', 'x.png'])).toBe('--crop was given twice (64 and 48); give it once.');
  expect(await refusal(['predict', '--model', 'resnet20', '--model', 'resnet18', 'x.png'])).toBe(
    '--model was given twice (resnet20 and resnet18); give it once.',
  );
  // The same value twice gets past the check (and fails later, on the missing image).
  const same = await runCli(['predict', '--model', 'resnet20', '--model', 'resnet20', '/nonexistent/x.png'], os.tmpdir());
  expect(same.stderr.trim()).toBe("resnet: No such file: '/nonexistent/x.png'.");
  // Every value-taking option of every command is watched (commander's own listener, then the check's).
  const unwatched: string[] = [];
  for (const [name, cmd] of allCommands(buildProgram()))
    for (const o of cmd.options as Option[])
      if ((o.required || o.optional) && cmd.listenerCount(`option:${o.name()}`) < 2) unwatched.push(`${name} ${o.long}`);
  expect(unwatched).toEqual([]);
});
