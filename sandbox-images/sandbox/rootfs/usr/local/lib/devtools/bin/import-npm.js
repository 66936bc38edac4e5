// Why this exists: the `import` phase loads the package the way an application would,
// so payloads that only fire on require()/import() run under the tracer. It requires the
// package from the project directory (the cwd); when the package is ESM-only it imports
// the entry its package.json names. It exits on its own once loading settled, so a
// package that keeps the event loop alive (a server, an interval) does not turn a benign
// import into a timeout.
'use strict';
const path = require('path');
const fs = require('fs');
const { createRequire } = require('module');
const { pathToFileURL } = require('url');

const name = process.argv[2];
const grace = Number(process.argv[3] || 5000);
const report = (o) => process.stdout.write('airlock-import ' + JSON.stringify(o) + '\n');
const projectRequire = createRequire(path.join(process.cwd(), 'airlock-import.js'));

function esmEntry() {
  const dir = path.join(process.cwd(), 'node_modules', name);
  const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  let target = null;
  const pick = (e) => {
    if (typeof e === 'string') return e;
    if (Array.isArray(e)) { for (const x of e) { const r = pick(x); if (r) return r; } return null; }
    if (e && typeof e === 'object') {
      if (e['.'] !== undefined) return pick(e['.']);
      for (const k of ['node', 'import', 'default', 'require']) if (e[k] !== undefined) { const r = pick(e[k]); if (r) return r; }
    }
    return null;
  };
  if (pj.exports !== undefined) target = pick(pj.exports);
  if (!target) target = pj.module || pj.main || 'index.js';
  return pathToFileURL(path.resolve(dir, target)).href;
}

async function main() {
  let how = 'require';
  try {
    projectRequire(name);
  } catch (e) {
    const code = e && e.code;
    if (code === 'ERR_REQUIRE_ESM' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' || code === 'MODULE_NOT_FOUND') {
      how = 'import';
      try {
        await import(esmEntry());
      } catch (e2) {
        report({ name, how, ok: false, error: String((e2 && e2.message) || e2).slice(0, 500) });
        process.exitCode = 3;
        return;
      }
    } else {
      report({ name, how, ok: false, error: String((e && e.message) || e).slice(0, 500) });
      process.exitCode = 3;
      return;
    }
  }
  report({ name, how, ok: true });
}
main().finally(() => { setTimeout(() => process.exit(process.exitCode || 0), grace).unref(); });
