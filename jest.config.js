/** One jest run over every package's tests and the examples' end-to-end tests, straight from
 * TypeScript sources (swc, no type check: `npm run build` type-checks). Workspace imports resolve to
 * each package's src/ so a test never runs against a stale dist/. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/examples'],
  testMatch: ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.tsx?$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }] },
  moduleNameMapper: {
    '^@resnet-ts/core/node$': '<rootDir>/packages/core/src/node/index.ts',
    '^@resnet-ts/zoo/node$': '<rootDir>/packages/zoo/src/node.ts',
    '^@resnet-ts/([a-z-]+)$': '<rootDir>/packages/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testTimeout: 120000,
  maxWorkers: 2,
};
