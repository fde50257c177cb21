export { alive, descendants, survivors } from "./process-tree.js";
