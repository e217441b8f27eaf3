import type { Logger } from 'pino'
import { ProcessSupervisor } from '../process-supervisor.js'
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
 * Starts and supervises one `rtpengine` (ProcessSupervisor): ready once it answers an ng ping (within ~2 s
 * of start here), restarted with backoff if it dies, stopped with the server.
 */
export class RtpengineSupervisor {
  readonly #options: RtpengineSpawnOptions
  readonly #process: ProcessSupervisor

  constructor(options: RtpengineSpawnOptions, log: Logger) {
    this.#options = options
    const binary = options.binary ?? 'rtpengine'
    const timeoutMs = options.startTimeoutMs ?? 10_000
    this.#process = new ProcessSupervisor(
      {
        name: 'rtpengine',
        binary,
        args: rtpengineArguments(options),
        ready: (gaveUp) => this.#waitForPing(timeoutMs, gaveUp),
        missing: `--rtpengine-spawn needs Debian's rtpengine-daemon package: "${binary}" was not found (apt-get install rtpengine-daemon)`,
        notReady: `rtpengine did not answer a ping at ${this.address} within ${timeoutMs} ms`,
        error: (message) => new RtpengineSpawnError(message),
        readyFields: () => ({ address: this.address }),
      },
      log.child({ component: 'rtpengine' }),
    )
  }

  /** `udp:HOST:PORT` of the ng listener. */
  get address(): string {
    return formatRtpengineAddress(this.#options)
  }

  /** Starts rtpengine and resolves once it answers a ping; rejects with a clear RtpengineSpawnError otherwise. */
  start(): Promise<void> {
    return this.#process.start()
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
    return this.#process.pid
  }

  /** Stops rtpengine (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void> {
    return this.#process.stop()
  }
}
