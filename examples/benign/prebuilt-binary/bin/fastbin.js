#!/usr/bin/env node
'use strict';
console.log(require('../index.js').run(process.argv.slice(2)));
