module.exports = { ...require('../../jest.preset.cjs'), displayName: 'mqtt-protocol', rootDir: __dirname };
