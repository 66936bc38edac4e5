'use strict';
module.exports = { required: (v) => v !== undefined && v !== null && String(v).length > 0 };
