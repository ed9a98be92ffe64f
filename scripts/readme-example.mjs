// README examples for scripts/pack-test.mjs: which code block is the example, and its CommonJS and
// ES-module forms. See pack-test.mjs for the conventions.

import { createRequire } from 'node:module';

const FENCE = /```(js|javascript|cjs|mjs|ts|typescript)[^\n]*\n([\s\S]*?)\n```/;

// The example's code as plain JavaScript: a ts/typescript fence has its types stripped with esbuild
// (the repository's dev dependency; imports that only carry types are dropped, as tsc does).
function plain(m) {
  const [, lang, code] = m;
  if (lang !== 'ts' && lang !== 'typescript') return code;
  const esbuild = createRequire(import.meta.url)('esbuild');
  return esbuild.transformSync(code, { loader: 'ts', format: 'esm', target: 'node20' }).code.trimEnd();
}

/**
 * Every example of a README: the first fence after each `<!-- example -->` marker (or, without
 * markers, the first fence under `## Example`). Each is `{ code, esm }`: the code as plain
 * JavaScript and whether it is written as an ES module (import) rather than CommonJS (require).
 */
export function extractExamples(readme) {
  const out = [];
  let at = readme.indexOf('<!-- example -->');
  while (at >= 0) {
    const m = FENCE.exec(readme.slice(at));
    if (m) out.push(plain(m));
    at = readme.indexOf('<!-- example -->', at + 1);
  }
  if (out.length === 0) {
    const one = extractExample(readme);
    if (one) out.push(one);
  }
  return out.map((code) => ({ code, esm: isEsmSource(code) }));
}

/**
 * The forms an example runs in: first as written (an ES module as `.mjs`, CommonJS as `.cjs`, with
 * no wrapping: `require` with top-level `await` fails, as it would for a user), then the derived
 * other form (top-level `await` wrapped when derived to CommonJS).
 */
export function exampleForms({ code, esm }) {
  return esm
    ? [
        { kind: 'mjs', src: code, asWritten: true },
        { kind: 'cjs', src: toCjs(code), asWritten: false },
      ]
    : [
        { kind: 'cjs', src: `'use strict';\n${code}\n`, asWritten: true },
        { kind: 'mjs', src: toEsm(code), asWritten: false },
      ];
}

export function extractExample(readme) {
  const marker = readme.indexOf('<!-- example -->');
  if (marker >= 0) {
    const m = FENCE.exec(readme.slice(marker));
    if (m) return plain(m);
  }
  const heading = /^##\s+Example\b.*$/im.exec(readme);
  if (heading) {
    const rest = readme.slice(heading.index + heading[0].length);
    const next = /^##\s/m.exec(rest); // stay inside the section
    const m = FENCE.exec(next ? rest.slice(0, next.index) : rest);
    if (m) return plain(m);
  }
  return null;
}

const hasTopLevelAwait = (code) => /(^|[^\w.])await\s/.test(code);

export function toCjs(code) {
  if (isEsmSource(code)) code = esmToCjs(code);
  if (!hasTopLevelAwait(code)) return `'use strict';\n${code}\n`;
  return `'use strict';\n(async () => {\n${code}\n})().catch((e) => { console.error(e); process.exit(1); });\n`;
}

const isEsmSource = (code) => /^\s*import\s[^(]/m.test(code);

// An example written as an ES module: `import * as x from 'm'` / `import x from 'm'` ->
// `const x = require('m')`, `import {a, b as c} from 'm'` -> `const {a, b: c} = require('m')`,
// `import 'm'` -> `require('m')`.
export function esmToCjs(code) {
  return code
    .replace(/^(\s*)import\s+(?:\*\s+as\s+)?([\w$]+)\s+from\s+(['"][^'"]+['"]);?/gm, '$1const $2 = require($3);')
    .replace(/^(\s*)import\s*\{([^}]*)\}\s*from\s+(['"][^'"]+['"]);?/gm, (_, ws, names, spec) => {
      const list = names
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
        .map((x) => x.replace(/^([\w$]+)\s+as\s+([\w$]+)$/, '$1: $2'));
      return `${ws}const { ${list.join(', ')} } = require(${spec});`;
    })
    .replace(/^(\s*)import\s+(['"][^'"]+['"]);?/gm, '$1require($2);');
}

export function toEsm(code) {
  if (isEsmSource(code)) return code;
  return code
    .replace(/^(\s*)(?:const|let|var)\s+(\w+)\s*=\s*require\((['"][^'"]+['"])\);?/gm, '$1import * as $2 from $3;')
    .replace(/^(\s*)(?:const|let|var)\s*\{([^}]*)\}\s*=\s*require\((['"][^'"]+['"])\);?/gm, (_, ws, names, spec) => {
      const list = names
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => s.replace(/^([\w$]+)\s*:\s*([\w$]+)$/, '$1 as $2'));
      return `${ws}import { ${list.join(', ')} } from ${spec};`;
    })
    .replace(/^(\s*)require\((['"][^'"]+['"])\);?/gm, '$1import $2;');
}
