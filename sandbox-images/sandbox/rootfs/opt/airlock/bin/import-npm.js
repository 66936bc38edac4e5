// Why this exists: the `import` phase loads the package the way an application would,
// so payloads that only fire on require()/import() run under the tracer. It requires the
// package; when the package is ESM-only it falls back to import(). It exits on its own
// once loading settled, so a package that keeps the event loop alive (a server, an
// interval) does not turn a benign import into a timeout.
'use strict';
const name = process.argv[2];
const grace = Number(process.env.AIRLOCK_IMPORT_GRACE_MS || 5000);
const report = (o) => process.stdout.write('airlock-import ' + JSON.stringify(o) + '\n');
async function main() {
  let how = 'require';
  try {
    require(name);
  } catch (e) {
    if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' || e.code === 'MODULE_NOT_FOUND')) {
      how = 'import';
      try {
        await import(name);
      } catch (e2) {
        report({ name, how, ok: false, error: String(e2 && e2.message || e2).slice(0, 500) });
        process.exitCode = 3;
        return;
      }
    } else {
      report({ name, how, ok: false, error: String(e && e.message || e).slice(0, 500) });
      process.exitCode = 3;
      return;
    }
  }
  report({ name, how, ok: true });
}
main().finally(() => { setTimeout(() => process.exit(process.exitCode || 0), grace).unref(); });
