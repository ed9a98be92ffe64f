/**
 * The pickle interpreter on its own: every protocol CPython writes (0-5) decodes to the same data,
 * and nothing but an allowed global can be called. The byte strings are `pickle.dumps(v, protocol=p)`
 * of v = {'a': -5, 'b': 2**70, 'n': -2**70, 'c': (1.5, 'xé', b'yz', None, True), 'l': [1, 2, 3],
 * 'big': 70000, 'neg': -129}, written by CPython 3.11.
 */
import { FormatError } from '@resnet-ts/core';
import { PickleGlobal, unpickle } from '../src/io/pickle';

const PICKLES: string[] = [
  '286470300a56610a70310a492d350a7356620a70320a4c313138303539313632303731373431313330333432344c0a73566e0a70330a4c2d313138303539313632303731373431313330333432344c0a7356630a70340a2846312e350a5678e90a70350a635f636f646563730a656e636f64650a70360a2856797a0a70370a566c6174696e310a70380a7470390a527031300a4e4930310a747031310a73566c0a7031320a286c7031330a49310a6149320a6149330a6173566269670a7031340a4937303030300a73566e65670a7031350a492d3132390a732e',
  '7d71002858010000006171014afbffffff58010000006271024c313138303539313632303731373431313330333432344c0a58010000006e71034c2d313138303539313632303731373431313330333432344c0a580100000063710428473ff8000000000000580300000078c3a97105635f636f646563730a656e636f64650a7106285802000000797a710758060000006c6174696e31710874710952710a4e4930310a74710b58010000006c710c5d710d284b014b024b03655803000000626967710e4a7011010058030000006e6567710f4a7fffffff752e',
  '80027d71002858010000006171014afbffffff58010000006271028a0900000000000000004058010000006e71038a090000000000000000c0580100000063710428473ff8000000000000580300000078c3a97105635f636f646563730a656e636f64650a71065802000000797a710758060000006c6174696e31710886710952710a4e8874710b58010000006c710c5d710d284b014b024b03655803000000626967710e4a7011010058030000006e6567710f4a7fffffff752e',
  '80037d71002858010000006171014afbffffff58010000006271028a0900000000000000004058010000006e71038a090000000000000000c0580100000063710428473ff8000000000000580300000078c3a971054302797a71064e8874710758010000006c71085d7109284b014b024b03655803000000626967710a4a7011010058030000006e6567710b4a7fffffff752e',
  '8004956d000000000000007d94288c0161944afbffffff8c0162948a090000000000000000408c016e948a090000000000000000c08c01639428473ff80000000000008c0378c3a9944302797a944e8874948c016c945d94284b014b024b03658c03626967944a701101008c036e6567944a7fffffff752e',
  '8005956d000000000000007d94288c0161944afbffffff8c0162948a090000000000000000408c016e948a090000000000000000c08c01639428473ff80000000000008c0378c3a9944302797a944e8874948c016c945d94284b014b024b03658c03626967944a701101008c036e6567944a7fffffff752e',
];

const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));
const latin1 = (s: string) => Uint8Array.from([...s].map((c) => c.charCodeAt(0)));

/** Protocols 0-2 pickle bytes as `_codecs.encode(str, 'latin1')`; the test allows exactly that. */
function findGlobal(module: string, name: string): PickleGlobal {
  if (module === '_codecs' && name === 'encode') return new PickleGlobal(module, name, (a) => latin1(a[0] as string));
  throw new FormatError(`refused ${module}.${name}`);
}

test.each(PICKLES.map((h, p) => [p, h]))('protocol %i decodes exactly', (_, h) => {
  const { value, end } = unpickle(hex(h as string), { findGlobal });
  expect(end).toBe((h as string).length / 2);
  const d = value as Map<string, unknown>;
  expect(d).toBeInstanceOf(Map);
  expect(d.get('a')).toBe(-5);
  expect(d.get('b')).toBe(2n ** 70n);
  expect(d.get('n')).toBe(-(2n ** 70n));
  expect(d.get('big')).toBe(70000);
  expect(d.get('neg')).toBe(-129);
  expect(d.get('l')).toEqual([1, 2, 3]);
  const [f, s, b, none, t] = d.get('c') as unknown[];
  expect([f, s, Array.from(b as Uint8Array), none, t]).toEqual([1.5, 'xé', [0x79, 0x7a], null, true]);
});

describe('nothing but an allowed global is callable', () => {
  test('a GLOBAL outside the allow-list is refused before anything is called', () => {
    // cposix\nsystem\n(S'touch x'\ntR.  (protocol 0: os.system('touch x'))
    const bytes = latin1("cposix\nsystem\n(S'touch x'\ntR.");
    expect(() => unpickle(bytes, { findGlobal })).toThrow('refused posix.system');
  });

  test('REDUCE on data (a string) is an error, not a call', () => {
    expect(() => unpickle(latin1("S'abc'\n(tR."), { findGlobal })).toThrow(/applies REDUCE to data/);
  });

  test('BUILD on a plain list is refused', () => {
    expect(() => unpickle(latin1('](db.'), { findGlobal })).toThrow(/BUILD on an object no allowed global made/);
  });

  test('truncation, bad memo references and unknown opcodes are FormatErrors naming the source', () => {
    const full = hex(PICKLES[4]);
    expect(() => unpickle(full.subarray(0, full.length - 3), { findGlobal, source: 'x.pkl' })).toThrow(/^x\.pkl: .*truncated/);
    expect(() => unpickle(latin1('h\x05.'), { findGlobal, source: 'x.pkl' })).toThrow(/memo entry 5, which was never stored/);
    expect(() => unpickle(latin1('\x82\x01.'), { findGlobal, source: 'x.pkl' })).toThrow(
      /^x\.pkl: the pickle uses opcode EXT1 \(a value from copyreg's extension registry/,
    );
    expect(() => unpickle(latin1('Q.'), { findGlobal })).toThrow(/pops an empty stack/);
  });
});

test('Python 2 byte strings (BINSTRING) decode as ISO-8859-1, byte for byte (not windows-1252)', () => {
  // SHORT_BINSTRING of bytes 0x41 0x80 0x9f 0xe9, then STOP.
  const { value } = unpickle(Uint8Array.from([0x55, 4, 0x41, 0x80, 0x9f, 0xe9, 0x2e]), { findGlobal });
  expect([...(value as string)].map((c) => c.charCodeAt(0))).toEqual([0x41, 0x80, 0x9f, 0xe9]);
});
