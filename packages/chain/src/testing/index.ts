export * from "./chopsticks.js";
export * from "./subtensor.js";
