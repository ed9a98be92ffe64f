import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const root = path.dirname(fileURLToPath(import.meta.url));
const SCOPE = '@resnet-ts/';

/** Every workspace (packages/*, examples/*) with its package.json. */
const workspaces = ['packages', 'examples'].flatMap((group) =>
  fs
    .readdirSync(path.join(root, group))
    .filter((dir) => fs.existsSync(path.join(root, group, dir, 'package.json')))
    .map((dir) => ({ dir: `${group}/${dir}`, pkg: JSON.parse(fs.readFileSync(path.join(root, group, dir, 'package.json'), 'utf8')) })),
);
const ours = workspaces.map((w) => w.pkg.name).filter((name) => name.startsWith(SCOPE));

/**
 * Package boundaries: a workspace's sources, tests and scripts import only the @resnet-ts packages
 * its package.json declares (dependencies, devDependencies, peerDependencies) — so nothing imports a
 * package above it without saying so — and core's sources import none of ours. `import` and
 * `export ... from` go through no-restricted-imports; `require()` and `import()` through
 * no-restricted-syntax.
 */
function boundaries({ dir, pkg }) {
  const declared = new Set([pkg.name, ...Object.keys({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.peerDependencies })]);
  const rule = (files, forbidden, why) => {
    if (forbidden.length === 0) return [];
    const names = forbidden.map((n) => n.slice(SCOPE.length)).join('|');
    const matches = `/^@resnet-ts.(${names})(.|$)/`;
    const message = `${dir}: ${why}`;
    return [
      {
        files,
        rules: {
          'no-restricted-imports': ['error', { paths: forbidden.map((name) => ({ name, message })), patterns: [{ group: forbidden.map((n) => `${n}/*`), message }] }],
          'no-restricted-syntax': [
            'error',
            { selector: `CallExpression[callee.name='require'][arguments.0.value=${matches}]`, message },
            { selector: `ImportExpression[source.value=${matches}]`, message },
          ],
        },
      },
    ];
  };
  const undeclared = ours.filter((name) => !declared.has(name));
  const why = `import only the @resnet-ts packages declared in ${dir}/package.json (add it to dependencies, or to devDependencies for tests and scripts).`;
  const all = rule([`${dir}/**/*.{ts,js,mjs,cjs}`], undeclared, why);
  if (pkg.name !== `${SCOPE}core`) return all;
  // core is the bottom: its sources import none of ours (its tests may, as declared devDependencies).
  return [...all, ...rule([`${dir}/src/**/*.ts`], ours.filter((n) => n !== pkg.name), 'the core imports none of the other @resnet-ts packages.')];
}

export default tseslint.config(
  { ignores: ['**/dist/**', '**/generated/**', '**/build/**', '**/node_modules/**', 'examples/**/public/**', 'docs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly', Buffer: 'readonly' } },
  },
  // Files that hold one idea: sources under ~450 lines and functions under ~80 (blank lines and comments not counted).
  {
    files: ['packages/*/src/**/*.ts', 'examples/*/src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 450, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  ...workspaces.flatMap(boundaries),
);
