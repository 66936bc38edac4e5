module.exports = { get: (k, d) => (k in process.env ? process.env[k] : d) };
