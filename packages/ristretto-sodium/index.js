// Throws when the addon was not built (no compiler or no libsodium headers
// at install time); the mint then uses libsodium's WebAssembly build.
module.exports = require('./build/Release/ristretto.node');
