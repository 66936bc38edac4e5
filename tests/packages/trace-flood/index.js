// Import-time code of the trace-flood test package: it reads the user's SSH key (a
// canary path), so a traced import phase shows a file.open by the package here.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
try {
  fs.readFileSync(path.join(os.homedir(), '.ssh', 'id_rsa'));
} catch (_) {}
module.exports = { ok: true };
