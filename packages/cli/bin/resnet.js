#!/usr/bin/env node
// The `resnet` command. A committed shim (rather than pointing `bin` at dist/) so that npm links the
// command even in a fresh workspace clone, where dist/ is built by `prepare` after linking.
require('../dist/bin.js');
