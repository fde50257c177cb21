import { once } from "node:events";
import winston from "winston";
import { formatHumanLine, formatJsonLine, type LogRecord } from "./format.js";
import { redactText, redactValue } from "./redact.js";
import { RotatingFileTransport } from "./rotating-file.js";
import { globalSecrets, type SecretRegistry } from "./secrets.js";
import { LOG_LEVELS, type LogLevel, levelForVerbosity, type Verbosity } from "./verbosity.js";

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  /** The most verbose level this logger emits. */
  readonly level: LogLevel;
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  /** Lifecycle lines of the miner (start, window begun, upload done, stop): shown even without `-v`. */
  notice(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  isLevelEnabled(level: LogLevel): boolean;
  /** A logger that adds `fields` to every record, e.g. `child({ component: "worker", gpu: 4 })`. */
  child(fields: LogFields): Logger;
  /** Flushes and closes every transport (shared by the logger and all its children). */
  close(): Promise<void>;
}

export interface LogFileOptions {
  path: string;
  /** Rotate when the file reaches this size (bytes). Default 100 MiB, like the reference. */
  maxSizeBytes?: number;
  /** Rotated files kept besides the live one (`<path>.1` newest … `<path>.N`). Default 5. */
  maxFiles?: number;
}

/**
 * The level methods a library logs through, so that a caller can hand it its Logger, a child of
 * one, a test double or `silentLogger`.
 */
export type BasicLogger = Pick<Logger, "error" | "warn" | "info" | "debug">;

/** Drops everything: the default of libraries whose caller passed no logger. */
export const silentLogger: BasicLogger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
};

export interface LoggerOptions {
  verbosity?: Verbosity;
  /** JSON lines (true) or human lines (false). Default: human when the output stream is a TTY. */
  json?: boolean;
  /** ANSI colours on human lines. Default: when the stream is a TTY and NO_COLOR is unset. */
  colour?: boolean;
  /** Optional size-rotating file log, always JSON lines. */
  file?: LogFileOptions | null;
  /** Where console lines go. Default process.stdout. */
  stream?: NodeJS.WritableStream;
  /** Secret values to mask. Default: the process-wide registry fed by registerSecret(). */
  secrets?: SecretRegistry;
  /** Fields added to every record. */
  fields?: LogFields;
}

const DEFAULT_MAX_SIZE = 100 * 1024 * 1024;
const DEFAULT_MAX_FILES = 5;
const RECORD = Symbol("grail.record");

type RecordInfo = winston.Logform.TransformableInfo & { [RECORD]: LogRecord };

function recordOf(info: winston.Logform.TransformableInfo): LogRecord {
  return (info as RecordInfo)[RECORD];
}

/** Creates the root logger of a process. See LoggerOptions for the defaults. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stdout;
  const isTty = (stream as { isTTY?: boolean }).isTTY === true;
  const json = options.json ?? !isTty;
  const colour = options.colour ?? (!json && isTty && !process.env.NO_COLOR);
  const level = levelForVerbosity(options.verbosity ?? 0);

  const consoleFormat = winston.format.printf((info) =>
    json ? formatJsonLine(recordOf(info)) : formatHumanLine(recordOf(info), colour),
  );
  const transports: winston.transport[] = [
    new winston.transports.Stream({ stream, format: consoleFormat, eol: "\n" }),
  ];
  if (options.file) {
    transports.push(
      new RotatingFileTransport({
        path: options.file.path,
        maxSizeBytes: options.file.maxSizeBytes ?? DEFAULT_MAX_SIZE,
        maxFiles: options.file.maxFiles ?? DEFAULT_MAX_FILES,
        format: winston.format.printf((info) => formatJsonLine(recordOf(info))),
      }),
    );
  }
  const root = winston.createLogger({ levels: LOG_LEVELS, level, transports, exitOnError: false });
  return new WinstonLogger(root, transports, options.secrets ?? globalSecrets, options.fields ?? {}, level);
}

class WinstonLogger implements Logger {
  constructor(
    private readonly root: winston.Logger,
    private readonly transports: readonly winston.transport[],
    private readonly secrets: SecretRegistry,
    private readonly fields: LogFields,
    readonly level: LogLevel,
  ) {}

  error(message: string, fields?: LogFields): void {
    this.write("error", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.write("warn", message, fields);
  }
  notice(message: string, fields?: LogFields): void {
    this.write("notice", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.write("info", message, fields);
  }
  debug(message: string, fields?: LogFields): void {
    this.write("debug", message, fields);
  }

  isLevelEnabled(level: LogLevel): boolean {
    return LOG_LEVELS[level] <= LOG_LEVELS[this.level];
  }

  child(fields: LogFields): Logger {
    return new WinstonLogger(
      this.root,
      this.transports,
      this.secrets,
      { ...this.fields, ...fields },
      this.level,
    );
  }

  async close(): Promise<void> {
    if (!this.root.writable) return;
    const finished = this.transports.map((t) => once(t, "finish"));
    this.root.end();
    await Promise.all(finished);
  }

  private write(level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (!this.isLevelEnabled(level) || !this.root.writable) return;
    const record: LogRecord = {
      time: new Date(),
      level,
      message: redactText(String(message), this.secrets),
      fields: redactValue({ ...this.fields, ...fields }, this.secrets) as LogFields,
    };
    this.root.log({ level, message: record.message, [RECORD]: record });
  }
}
