module.exports = { ...require('../../jest.preset.cjs'), displayName: 'mqtt-gateway', rootDir: __dirname };
