module.exports = function helper() { return require('plain-lib'); };
