export { formatHumanLine, formatJsonLine, type LogRecord } from "./format.js";
export {
  type BasicLogger,
  createLogger,
  type LogFields,
  type LogFileOptions,
  type Logger,
  type LoggerOptions,
  silentLogger,
} from "./logger.js";
export { MNEMONIC_MIN_WORDS, maskMnemonics } from "./mnemonic.js";
export { isSecretFieldName, REDACTED, redactText, redactValue } from "./redact.js";
export { globalSecrets, registerSecret, SecretRegistry } from "./secrets.js";
export {
  isVerbosityFlag,
  LOG_LEVELS,
  type LogLevel,
  levelForVerbosity,
  parseVerbosity,
  type Verbosity,
} from "./verbosity.js";
