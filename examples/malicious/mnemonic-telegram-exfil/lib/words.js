module.exports = ['abandon', 'ability', 'able', 'about', 'above', 'absent', 'absorb', 'abstract'];
