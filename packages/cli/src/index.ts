/** @resnet-ts/cli: the `resnet` command. Also usable programmatically: `main(['node', 'resnet', 'models'])`. */
export { buildProgram, main } from './program.js';
export { UserError } from './util.js';
