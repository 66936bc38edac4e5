// A pre-fetched npm mirror for airlock's benchmarks, so every measured run talks only to
// loopback. Two commands:
//
//   node npm-mirror.mjs fetch LOCKFILE OUTDIR [REGISTRY]
//       Downloads every tarball the lockfile resolves (integrity-checked) and each
//       package's abbreviated packument, keeping only the versions in the lockfile (so a
//       package analyzed alone resolves its own dependencies inside the mirror too).
//       The only step that may use the public registry, and it only fetches.
//   node npm-mirror.mjs serve OUTDIR PORT [slim|full|through]
//       Serves the mirror on 127.0.0.1:PORT (packuments and tarballs). `slim` (default):
//       packuments list only the lockfile's versions. `full`: every published version,
//       as the real registry's do. `through`: full, and what is missing (a packument, or
//       a tarball a sandbox analysis resolves on its own) is fetched once from the
//       public registry and kept, so later runs are local.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const [cmd, a, b, c] = process.argv.slice(2);

const enc = (name) => name.replace('/', '%2f');

function semverCmp(x, y) {
  const split = (v) => {
    const [core, pre] = v.split('+')[0].split(/-(.*)/s);
    return [core.split('.').map(Number), pre];
  };
  const [cx, px] = split(x), [cy, py] = split(y);
  for (let i = 0; i < 3; i++) if (cx[i] !== cy[i]) return cx[i] - cy[i];
  if (!px && py) return 1;
  if (px && !py) return -1;
  return (px || '').localeCompare(py || '');
}

async function fetchMirror(lockPath, out, registry = 'https://registry.npmjs.org') {
  const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
  const wanted = new Map(); // name -> Set(version)
  const tarballs = [];
  for (const [loc, e] of Object.entries(lock.packages || {})) {
    if (!loc || e.link || !e.resolved || !/^https?:/.test(e.resolved)) continue;
    const name = e.name || loc.slice(loc.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (!wanted.has(name)) wanted.set(name, new Set());
    wanted.get(name).add(e.version);
    tarballs.push({ name, version: e.version, url: e.resolved, integrity: e.integrity });
  }
  mkdirSync(join(out, 'packuments'), { recursive: true });
  let n = 0;
  for (const t of tarballs) {
    const file = t.url.slice(t.url.lastIndexOf('/') + 1);
    const dir = join(out, 'tarballs', enc(t.name));
    const path = join(dir, file);
    if (existsSync(path)) continue;
    const r = await fetch(t.url);
    if (!r.ok) throw new Error(`${t.url}: ${r.status}`);
    const buf = Buffer.from(await r.arrayBuffer());
    const [alg, want] = t.integrity.split('-');
    const got = createHash(alg).update(buf).digest('base64');
    if (got !== want.split('?')[0]) throw new Error(`${t.url}: integrity mismatch`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, buf);
    n++;
  }
  for (const [name, versions] of wanted) {
    const r = await fetch(`${registry}/${enc(name)}`, {
      headers: { accept: 'application/vnd.npm.install-v1+json' },
    });
    if (!r.ok) throw new Error(`${name}: ${r.status}`);
    const doc = await r.json();
    mkdirSync(join(out, 'packuments-full'), { recursive: true });
    const full = structuredClone(doc);
    for (const d of Object.values(full.versions)) {
      d.dist.tarball = `__BASE__/${name}/-/${d.dist.tarball.slice(d.dist.tarball.lastIndexOf('/') + 1)}`;
    }
    writeFileSync(join(out, 'packuments-full', `${enc(name)}.json`), JSON.stringify(full));
    const kept = {};
    for (const v of versions) {
      const d = doc.versions[v];
      if (!d) throw new Error(`${name}@${v} missing upstream`);
      const file = d.dist.tarball.slice(d.dist.tarball.lastIndexOf('/') + 1);
      d.dist.tarball = `__BASE__/${name}/-/${file}`;
      kept[v] = d;
    }
    const latest = [...versions].sort(semverCmp).pop();
    const slim = { name, 'dist-tags': { latest }, versions: kept, modified: doc.modified };
    writeFileSync(join(out, 'packuments', `${enc(name)}.json`), JSON.stringify(slim));
  }
  console.error(`mirror: ${tarballs.length} tarballs (${n} new), ${wanted.size} packuments in ${out}`);
}

const UPSTREAM = 'https://registry.npmjs.org';

async function fetchThrough(out, path) {
  const i = path.indexOf('/-/');
  if (i >= 0) {
    const name = path.slice(0, i), file = path.slice(i + 3);
    const r = await fetch(`${UPSTREAM}/${name}/-/${file}`);
    if (!r.ok) return;
    mkdirSync(join(out, 'tarballs', enc(name)), { recursive: true });
    writeFileSync(join(out, 'tarballs', enc(name), file), Buffer.from(await r.arrayBuffer()));
    return;
  }
  const r = await fetch(`${UPSTREAM}/${enc(path)}`, {
    headers: { accept: 'application/vnd.npm.install-v1+json' },
  });
  if (!r.ok) return;
  const doc = await r.json();
  for (const d of Object.values(doc.versions)) {
    d.dist.tarball = `__BASE__/${path}/-/${d.dist.tarball.slice(d.dist.tarball.lastIndexOf('/') + 1)}`;
  }
  mkdirSync(join(out, 'packuments-full'), { recursive: true });
  writeFileSync(join(out, 'packuments-full', `${enc(path)}.json`), JSON.stringify(doc));
}

function serve(out, port, mode = 'slim') {
  const docs = mode === 'slim' ? 'packuments' : 'packuments-full';
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(req.url.split('?')[0]).slice(1);
    const base = `http://${req.headers.host}`;
    const i = path.indexOf('/-/');
    const local = i >= 0
      ? join(out, 'tarballs', enc(path.slice(0, i)), path.slice(i + 3))
      : join(out, docs, `${enc(path)}.json`);
    if (mode === 'through' && !existsSync(local) && !path.includes('..')) {
      try { await fetchThrough(out, path); } catch (e) { console.error(`mirror: ${path}: ${e}`); }
    }
    try {
      if (i >= 0) {
        const body = readFileSync(local);
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return res.end(body);
      }
      const text = readFileSync(local, 'utf8');
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(text.replaceAll('__BASE__', base));
    } catch {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
    }
  });
  server.keepAliveTimeout = 30000;
  server.listen(Number(port), '127.0.0.1', () => console.error(`mirror: serving ${out} on ${port}`));
}

if (cmd === 'fetch') await fetchMirror(a, b, c);
else if (cmd === 'serve') serve(a, b, c);
else {
  console.error('usage: npm-mirror.mjs fetch LOCKFILE OUTDIR [REGISTRY] | serve OUTDIR PORT [slim|full|through]');
  process.exit(2);
}
