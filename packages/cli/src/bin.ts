#!/usr/bin/env node
import { main } from './program.js';

main().catch((e) => {
  process.stderr.write(`resnet: unexpected error: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
