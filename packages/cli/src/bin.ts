#!/usr/bin/env node
import { main } from './program.js';

// Output piped into a reader that stops early (`resnet predict *.jpg | head -1`): the reader has what
// it wanted, so end quietly as other command-line tools do, not with an EPIPE stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

main().catch((e) => {
  process.stderr.write(`resnet: unexpected error: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
