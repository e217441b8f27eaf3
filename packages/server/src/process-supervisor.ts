import { spawn, type ChildProcess } from 'node:child_process'
import type { Logger } from 'pino'

/** One external daemon that `parley serve` starts itself (`--coturn`, `--rtpengine-spawn`). */
export interface SupervisedProcess {
  /** Its name in log lines and errors: `turnserver`, `rtpengine`. */
  name: string
  binary: string
  args: string[]
  /**
   * Resolves true once the process serves (it answers its protocol: the daemons' logs have no stable
   * marker), false at its own deadline or as soon as `gaveUp()` holds.
   */
  ready: (gaveUp: () => boolean) => Promise<boolean>
  /** The start-up error when `binary` is not installed (names the Debian package). */
  missing: string
  /** The start-up error when `ready` gave false (the process's last output is appended). */
  notReady: string
  /** Wraps a start-up failure in the caller's error class. */
  error: (message: string) => Error
  /** Fields of the info line logged once it serves. */
  readyFields: () => Record<string, unknown>
}

/**
 * Starts and supervises one daemon: resolves once it serves, restarts it with capped backoff if it dies
 * unexpectedly, and stops it (SIGTERM, SIGKILL after 5 s). Its output goes to our log at debug level.
 */
export class ProcessSupervisor {
  readonly #spec: SupervisedProcess
  readonly #log: Logger
  #child: ChildProcess | undefined
  #stopping = false
  #restarts = 0
  #restartTimer: NodeJS.Timeout | undefined

  constructor(spec: SupervisedProcess, log: Logger) {
    this.#spec = spec
    this.#log = log
  }

  /** Starts the process; resolves once it serves, rejects with the spec's error otherwise. */
  start(): Promise<void> {
    this.#stopping = false
    return this.#spawn()
  }

  #spawn(): Promise<void> {
    const { name, binary } = this.#spec
    return new Promise<void>((resolve, reject) => {
      const child = spawn(binary, this.#spec.args, { stdio: ['ignore', 'pipe', 'pipe'] })
      this.#child = child
      let settled = false
      let output = ''
      const fail = (message: string) => {
        if (settled) return
        settled = true
        reject(this.#spec.error(message))
      }
      const onData = (data: Buffer) => {
        const text = String(data)
        if (!settled) output = (output + text).slice(-4000)
        for (const line of text.split('\n')) if (line.trim()) this.#log.debug({ line: line.trim() }, name)
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('error', (err: NodeJS.ErrnoException) => {
        fail(err.code === 'ENOENT' ? this.#spec.missing : `${name} could not start: ${err.message}`)
      })
      child.once('exit', (code, signal) => {
        if (!settled)
          return fail(`${name} exited (${signal ?? code}) before serving:\n${output.slice(-2000)}`)
        if (this.#stopping) return
        const delay = Math.min(30_000, 1000 * 2 ** this.#restarts++)
        this.#log.error({ code, signal, restartInMs: delay }, `${name} exited unexpectedly; restarting`)
        this.#restartTimer = setTimeout(() => {
          this.#spawn().then(
            () => (this.#restarts = 0),
            (err: unknown) => this.#log.error({ err }, `${name} restart failed`),
          )
        }, delay)
        this.#restartTimer.unref()
      })
      void this.#spec
        .ready(() => settled || child.exitCode !== null || child.signalCode !== null)
        .then((ok) => {
          if (settled) return
          if (!ok) {
            child.kill('SIGKILL')
            return fail(`${this.#spec.notReady}:\n${output.slice(-2000)}`)
          }
          settled = true
          this.#log.info({ ...this.#spec.readyFields(), pid: child.pid }, `${name} is listening`)
          resolve()
        })
    })
  }

  /** The running process id (tests). */
  get pid(): number | undefined {
    const c = this.#child
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined
  }

  /** Stops the process (SIGTERM, then SIGKILL after 5 s); no restart follows. */
  async stop(): Promise<void> {
    this.#stopping = true
    clearTimeout(this.#restartTimer)
    const child = this.#child
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000)
        child.once('exit', () => {
          clearTimeout(kill)
          resolve()
        })
        child.kill('SIGTERM')
      })
    }
  }
}
