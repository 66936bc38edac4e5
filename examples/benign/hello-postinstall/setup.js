// Writes a small config file inside the package, like many packages do after install.
const fs = require('fs');
const path = require('path');
fs.writeFileSync(path.join(__dirname, 'config.json'), JSON.stringify({ installedAt: 'now' }));
console.log('hello-postinstall: configured');
