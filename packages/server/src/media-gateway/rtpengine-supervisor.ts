import { spawn, type ChildProcess } from 'node:child_process'
import type { Logger } from 'pino'
import { formatRtpengineAddress, RtpengineClient } from './rtpengine-client.js'

/** What `parley serve --rtpengine-spawn` gives Debian's `rtpengine`. */
export interface RtpengineSpawnOptions {
  /** Address of the ng control listener (`--listen-ng`). */
  host: string
  port: number
  /** rtpengine's `--interface`: `IP`, or `IP!ADVERTISED` behind 1:1 NAT; where media ports are opened. */
  interface: string
  /** Media port range (`--port-min`, `--port-max`). */
  minPort: number
  maxPort: number
  /** How long to wait for the first ping answer; default 10 s. */
  startTimeoutMs?: number
  /** The binary; `rtpengine` from Debian's rtpengine-daemon package by default. */
  binary?: string
}

/** rtpengine is missing, or did not come up. */
export class RtpengineSpawnError extends Error {
  override readonly name = 'RtpengineSpawnError'
}

/** The rtpengine command line for the options (userspace forwarding only: `--table=-1`, no kernel module). */
export function rtpengineArguments(o: RtpengineSpawnOptions): string[] {
  const listen = o.host.includes(':') ? `[${o.host}]:${o.port}` : `${o.host}:${o.port}`
  return [
    // Ignore /etc/rtpengine/rtpengine.conf: this process's flags are the whole configuration.
    '--config-file=none',
    '--foreground',
    '--log-stderr',
    `--interface=${o.interface}`,
    `--listen-ng=${listen}`,
    '--table=-1',
    `--port-min=${o.minPort}`,
    `--port-max=${o.maxPort}`,
  ]
}

/**
 * Starts and supervises one `rtpengine`: waits until it answers an ng ping, restarts it with backoff if it
 * dies, and stops it with the server. Its output goes to our log at debug level. Modelled on CoturnSupervisor.
 */
export class RtpengineSupervisor {
  readonly #options: RtpengineSpawnOptions
  readonly #log: Logger
  #child: ChildProcess | undefined
  #stopping = false
  #restarts = 0
  #restartTimer: NodeJS.Timeout | undefined

  constructor(options: RtpengineSpawnOptions, log: Logger) {
    this.#options = options
    this.#log = log.child({ component: 'rtpengine' })
  }

  /** `udp:HOST:PORT` of the ng listener. */
  get address(): string {
    return formatRtpengineAddress(this.#options)
  }

  /** Starts rtpengine and resolves once it answers a ping; rejects with a clear RtpengineSpawnError otherwise. */
  start(): Promise<void> {
    this.#stopping = false
    return this.#spawn()
  }

  #spawn(): Promise<void> {
    const binary = this.#options.binary ?? 'rtpengine'
    const timeoutMs = this.#options.startTimeoutMs ?? 10_000
    return new Promise<void>((resolve, reject) => {
      const child = spawn(binary, rtpengineArguments(this.#options), { stdio: ['ignore', 'pipe', 'pipe'] })
      this.#child = child
      let settled = false
      let output = ''
      const fail = (error: RtpengineSpawnError) => {
        if (settled) return
        settled = true
        reject(error)
      }
      const onData = (data: Buffer) => {
        const text = String(data)
        if (!settled) output = (output + text).slice(-4000)
        for (const line of text.split('\n'))
          if (line.trim()) this.#log.debug({ line: line.trim() }, 'rtpengine')
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('error', (err: NodeJS.ErrnoException) => {
        fail(
          err.code === 'ENOENT'
            ? new RtpengineSpawnError(
                `--rtpengine-spawn needs Debian's rtpengine-daemon package: "${binary}" was not found (apt-get install rtpengine-daemon)`,
              )
            : new RtpengineSpawnError(`rtpengine could not start: ${err.message}`),
        )
      })
      child.once('exit', (code, signal) => {
        if (!settled) {
          fail(
            new RtpengineSpawnError(
              `rtpengine exited (${signal ?? code}) before answering:\n${output.slice(-2000)}`,
            ),
          )
          return
        }
        if (this.#stopping) return
        // Supervision: an unexpected exit is logged and followed by a restart with capped backoff.
        const delay = Math.min(30_000, 1000 * 2 ** this.#restarts++)
        this.#log.error({ code, signal, restartInMs: delay }, 'rtpengine exited unexpectedly; restarting')
        this.#restartTimer = setTimeout(() => {
          this.#spawn().then(
            () => (this.#restarts = 0),
            (err: unknown) => this.#log.error({ err }, 'rtpengine restart failed'),
          )
        }, delay)
        this.#restartTimer.unref()
      })
      // Ready when it answers an ng ping (it answers within ~2 s of start here; its log has no stable marker).
      void this.#waitForPing(
        timeoutMs,
        () => settled || child.exitCode !== null || child.signalCode !== null,
      ).then((ok) => {
        if (settled) return
        if (!ok) {
          child.kill('SIGKILL')
          fail(
            new RtpengineSpawnError(
              `rtpengine did not answer a ping at ${this.address} within ${timeoutMs} ms:\n${output.slice(-2000)}`,
            ),
          )
          return
        }
        settled = true
        this.#log.info({ address: this.address, pid: child.pid }, 'rtpengine is listening')
        resolve()
      })
    })
  }

  /** Pings every 200 ms (each try waiting up to 500 ms) until an answer, the deadline, or `gaveUp()`. */
  async #waitForPing(timeoutMs: number, gaveUp: () => boolean): Promise<boolean> {
    const client = new RtpengineClient({ ...this.#options, timeoutMs: 500, retransmitMs: 200 })
    const deadline = Date.now() + timeoutMs
    try {
      while (Date.now() < deadline && !gaveUp()) {
        try {
          await client.ping()
          return true
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
      }
      return false
    } finally {
      await client.close()
    }
  }

  /** The running process id (tests). */
  get pid(): number | undefined {
    const c = this.#child
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined
  }

  /** Stops rtpengine (SIGTERM, then SIGKILL after 5 s). */
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
