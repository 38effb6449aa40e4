module.exports = { ...require('../../jest.preset.cjs'), displayName: 'proplet', rootDir: __dirname };
