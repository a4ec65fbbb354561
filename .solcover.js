module.exports = {
  // Mocks and harnesses are test scaffolding, not protocol code.
  skipFiles: ["test/"],
  istanbulReporter: ["text", "json-summary"],
};
