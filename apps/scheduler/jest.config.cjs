module.exports = { ...require('../../jest.preset.cjs'), displayName: 'scheduler', rootDir: __dirname };
