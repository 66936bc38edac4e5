module.exports = function app() { return 'app'; };
