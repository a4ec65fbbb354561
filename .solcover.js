module.exports = {
  // Mocks and harnesses are test scaffolding, not protocol code.
  skipFiles: ["test/"],
  istanbulReporter: ["text", "json-summary"],
  // Tests tagged @stress (the liquidation crash replay and the liquidation property run: hundreds
  // of transactions each) run in `npm test` only. Instrumented, they take over ten minutes each and
  // add no line the unit tests do not already reach.
  mocha: { grep: "@stress", invert: true },
};
