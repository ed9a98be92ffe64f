// One-off scaffolding helper: writes packages/<name>/package.json with the shared fields.
import fs from 'node:fs';
const [name, description, depsJson, peerJson, devJson, extraJson] = process.argv.slice(2);
const dir = `packages/${name}`;
fs.mkdirSync(`${dir}/src`, { recursive: true });
const pkg = {
  name: `@resnet-ts/${name}`,
  version: '0.1.0',
  description,
  license: 'Apache-2.0',
  repository: { type: 'git', url: 'https://example.invalid/resnet-ts.git', directory: dir },
  main: 'dist/index.js',
  types: 'dist/index.d.ts',
  exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' }, './package.json': './package.json' },
  files: ['dist', 'README.md'],
  engines: { node: '>=20' },
  scripts: { build: 'tsc -b', test: 'jest' },
  dependencies: JSON.parse(depsJson || '{}'),
  peerDependencies: JSON.parse(peerJson || '{}'),
  devDependencies: JSON.parse(devJson || '{}'),
  ...JSON.parse(extraJson || '{}'),
};
for (const k of ['dependencies', 'peerDependencies', 'devDependencies']) if (!Object.keys(pkg[k]).length) delete pkg[k];
fs.writeFileSync(`${dir}/package.json`, JSON.stringify(pkg, null, 2) + '\n');
