// Test package (benign): reads ~/.npmrc to find the configured registry, keeps it local.
const fs = require('fs'), os = require('os'), path = require('path');
let registry = 'https://registry.npmjs.org/';
try {
  const m = fs.readFileSync(path.join(os.homedir(), '.npmrc'), 'utf8').match(/^registry=(.*)$/m);
  if (m) registry = m[1];
} catch (e) {}
fs.writeFileSync(path.join(__dirname, 'registry.txt'), registry);
console.log('using registry', registry);
