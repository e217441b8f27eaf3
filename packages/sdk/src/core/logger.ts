/**
 * Logging with levels and a replaceable handler (sdk-api §1.6).
 * Every entry goes through `logs.handler` (default: the browser console) when its level is at or
 * above `logs.logLevel`.
 */
/** The log level names (`client.logger.levels`). */
export const LogLevels = {
  SILENT: 'silent',
  ERROR: 'error',
  WARN: 'warn',
  INFO: 'info',
  DEBUG: 'debug',
} as const
/** A log level name, from `'silent'` (nothing) to `'debug'` (everything). */
export type LogLevel = (typeof LogLevels)[keyof typeof LogLevels]

const RANK: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 }

/** True when `value` names a level (case-insensitive, sdk-api §1.6). */
export function parseLogLevel(value: unknown): LogLevel | undefined {
  if (typeof value !== 'string') return undefined
  const v = value.toLowerCase()
  return v in RANK ? (v as LogLevel) : undefined
}

/** What a log entry is about: `name` is `type`, or `type` and `id`. */
export interface LogTarget {
  type: string
  id?: string
  name: string
}

/** One log entry, as a `logs.handler` receives it (sdk-api §1.6). */
export interface LogEntry {
  /** Milliseconds since the epoch. */
  timestamp: number
  /** Console method to use: `'debug'`, `'info'`, `'warn'`, `'error'`, `'log'` or a timer method. */
  method: string
  /** Level the entry was produced at. */
  level: string
  target: LogTarget
  /** The first item is the human-readable text. */
  messages: unknown[]
  timer?: object
}

/** Receives every log entry at or above `logs.logLevel`. */
export type LogHandler = (entry: LogEntry) => void

/** The default handler: timestamp, target and level prefix, then the console method. */
export const consoleHandler: LogHandler = (entry) => {
  const con = (globalThis as unknown as { console?: Record<string, (...a: unknown[]) => void> }).console
  if (!con) return
  const fn = con[entry.method] ?? con.log
  const prefix = `${new Date(entry.timestamp).toISOString()} - ${entry.target.name} - ${entry.level.toUpperCase()}:`
  fn?.call(con, prefix, ...entry.messages)
}

export interface LogSettings {
  level: LogLevel
  handler: LogHandler
}

/** A logger bound to one target; cheap to create. */
export class Logger {
  readonly #settings: () => LogSettings
  readonly target: LogTarget

  constructor(settings: () => LogSettings, target: LogTarget) {
    this.#settings = settings
    this.target = target
  }

  /** A logger for another target sharing the same settings. */
  child(type: string, id?: string): Logger {
    return new Logger(
      this.#settings,
      id === undefined ? { type, name: type } : { type, id, name: `${type}/${id}` },
    )
  }

  error(...messages: unknown[]): void {
    this.#log('error', messages)
  }
  warn(...messages: unknown[]): void {
    this.#log('warn', messages)
  }
  info(...messages: unknown[]): void {
    this.#log('info', messages)
  }
  debug(...messages: unknown[]): void {
    this.#log('debug', messages)
  }

  #log(level: Exclude<LogLevel, 'silent'>, messages: unknown[]): void {
    const { level: min, handler } = this.#settings()
    if (RANK[level] > RANK[min]) return
    try {
      handler({ timestamp: Date.now(), method: level, level, target: this.target, messages })
    } catch {
      // A broken log handler must never break the SDK.
    }
  }
}
