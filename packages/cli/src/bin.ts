#!/usr/bin/env node
import { main } from './program.js';

// Output piped into a reader that stops early (`resnet predict *.jpg | head -1`): the reader has what
// it wanted, so end quietly as other command-line tools do, not with an EPIPE stack trace. A command
// whose result is its files (train, lab) keeps working and writes no more to that stream: ending it
// there left a run without its checkpoint and weights, and exit 0.
const resultIsFiles = ['train', 'lab'].includes(process.argv[2] ?? '');
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    if (!resultIsFiles) process.exit(0);
  });
}

main().catch((e) => {
  process.stderr.write(`resnet: unexpected error: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
