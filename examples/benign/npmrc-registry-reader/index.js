'use strict';
let registry = 'https://registry.npmjs.org/';
try { registry = require('./registry.json').registry; } catch (e) {}
module.exports = { registry };
