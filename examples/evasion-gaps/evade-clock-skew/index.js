'use strict';
module.exports = { ok: () => true };
