// husky 4-style installer: find the project's .git from where npm was started
// (INIT_CWD), then write a small runner into .git/hooks for each hook, which calls back
// into the project's package.json "hooks" config. Skips politely when there is no repo
// or when running in CI.
'use strict';
const fs = require('fs');
const path = require('path');

const hooks = ['applypatch-msg', 'pre-applypatch', 'post-applypatch', 'pre-commit', 'prepare-commit-msg', 'commit-msg', 'post-commit', 'pre-rebase', 'post-checkout', 'post-merge', 'pre-push'];

function findGitDir(start) {
  let dir = start;
  for (;;) {
    const g = path.join(dir, '.git');
    if (fs.existsSync(g)) return g;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

const project = process.env.INIT_CWD || path.resolve(__dirname, '../../..');
console.log('hookly > Setting up git hooks');
const gitDir = findGitDir(project);
if (!gitDir) {
  console.log("hookly > Can't find .git, skipping Git hooks installation.");
  process.exit(0);
}
const hooksDir = path.join(gitDir, 'hooks');
fs.mkdirSync(hooksDir, { recursive: true });
const script = (name) => `#!/bin/sh\n# hookly\n# created by hookly v4.3.8 (https://example.invalid/hookly)\nexport HOOKLY_GIT_PARAMS="$*"\nnode "${path.join(__dirname, 'runner.js')}" ${name} "$@"\n`;
for (const h of hooks) {
  const file = path.join(hooksDir, h);
  if (fs.existsSync(file) && !fs.readFileSync(file, 'utf8').includes('# hookly')) {
    console.log(`hookly > skipping existing user hook: ${file}`);
    continue;
  }
  fs.writeFileSync(file, script(h), { mode: 0o755 });
}
console.log('hookly > Done');
