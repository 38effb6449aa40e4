module.exports = { ...require('../../jest.preset.cjs'), displayName: 'health-monitor', rootDir: __dirname };
