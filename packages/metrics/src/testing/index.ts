export {
  startWandbServer,
  type WandbCall,
  type WandbServer,
  type WandbServerOptions,
} from "./wandb-server.js";
