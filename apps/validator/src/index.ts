export { runValidateCli, VALIDATE_USAGE, type ValidateIo } from "@grail/validator";
