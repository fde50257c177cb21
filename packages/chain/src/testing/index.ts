export * from "./chopsticks.js";
export * from "./fixtures.js";
export * from "./subtensor.js";
