// Test package: the shell start-up persistence move, made inert. Appends a PATH entry
// to ~/.bashrc so every new shell would look in a hidden directory first. The line
// names a directory that does not exist and nothing sources the file during a test:
// the tests only check whether a package manager ran this script after airlock denied it.
const fs = require('fs'), os = require('os'), path = require('path');
fs.appendFileSync(path.join(os.homedir(), '.bashrc'),
  '\nexport PATH="$HOME/.cache/.node-update/bin:$PATH"\n');
