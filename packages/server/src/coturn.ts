import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { ProcessSupervisor } from './process-supervisor.js'

/** What `parley serve --coturn` gives Debian's `turnserver`. */
export interface CoturnOptions {
  /** Listening address and port, from the first `--turn-url`. */
  host: string
  port: number
  /** Shared secret of the TURN REST API (draft-uberti-behave-turn-rest; coturn's use-auth-secret). */
  secret: string
  realm: string
  /** Concurrent allocations per user and in total. */
  userQuota: number
  totalQuota: number
  /** Relay port range. */
  minPort: number
  maxPort: number
  /** Permit peers on loopback (tests only: production must not relay to the host itself). */
  allowLoopback: boolean
  /** The binary; `turnserver` from Debian's coturn package by default. */
  binary?: string
}

/** coturn is missing, or did not come up. */
export class CoturnError extends Error {
  override readonly name = 'CoturnError'
}

/**
 * Peers a public TURN server must never relay to: private, loopback, link-local, carrier-grade NAT and
 * other special ranges (RFC 1918, RFC 6598, RFC 3927, RFC 4193, RFC 4291), so that the relay cannot be used
 * to reach the operator's internal network.
 */
export const DENIED_PEER_RANGES = [
  '0.0.0.0-0.255.255.255',
  '10.0.0.0-10.255.255.255',
  '100.64.0.0-100.127.255.255',
  '127.0.0.0-127.255.255.255',
  '169.254.0.0-169.254.255.255',
  '172.16.0.0-172.31.255.255',
  '192.0.0.0-192.0.0.255',
  '192.168.0.0-192.168.255.255',
  '198.18.0.0-198.19.255.255',
  '::1',
  'fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  'fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
]

/** The turnserver configuration file for the options (kept out of the command line: it holds the secret). */
export function coturnConfig(o: CoturnOptions, dir = '.'): string {
  const lines = [
    `pidfile=${join(dir, 'turnserver.pid')}`,
    `userdb=${join(dir, 'turndb')}`,
    `listening-ip=${o.host}`,
    `relay-ip=${o.host}`,
    `listening-port=${o.port}`,
    `min-port=${o.minPort}`,
    `max-port=${o.maxPort}`,
    'use-auth-secret',
    `static-auth-secret=${o.secret}`,
    `realm=${o.realm}`,
    `user-quota=${o.userQuota}`,
    `total-quota=${o.totalQuota}`,
    'fingerprint',
    'no-tls',
    'no-dtls',
    'no-cli',
    'no-rfc5780',
    'no-software-attribute',
    'no-multicast-peers',
    'stale-nonce=600',
    'log-file=stdout',
    'simple-log',
    ...DENIED_PEER_RANGES.map((r) => `denied-peer-ip=${r}`),
  ]
  if (o.allowLoopback) lines.push('allow-loopback-peers', 'allowed-peer-ip=127.0.0.0-127.255.255.255')
  return lines.join('\n') + '\n'
}

/**
 * Sends STUN Binding requests (RFC 8489 §5: type 0x0001, magic cookie 0x2112A442) every 100 ms until a
 * Binding success response (0x0101) with the same transaction id arrives, `timeoutMs` passes, or `gaveUp()`.
 */
export function stunAnswers(
  host: string,
  port: number,
  timeoutMs: number,
  gaveUp: () => boolean,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4')
    const transaction = randomBytes(12)
    const request = Buffer.concat([
      Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]),
      transaction,
    ])
    const deadline = Date.now() + timeoutMs
    const finish = (ok: boolean) => {
      clearInterval(timer)
      socket.close()
      resolve(ok)
    }
    socket.on('message', (msg) => {
      if (msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && msg.subarray(8, 20).equals(transaction))
        finish(true)
    })
    socket.on('error', () => {})
    const timer = setInterval(() => {
      if (Date.now() > deadline || gaveUp()) return finish(false)
      socket.send(request, port, host)
    }, 100)
  })
}

/** Host and port of a `turn:`/`stun:` URL (`turn:127.0.0.1:3478?transport=udp`). */
export function turnUrlAddress(url: string): { host: string; port: number } {
  const m = /^(?:turns?|stuns?):(\[[^\]]+\]|[^:?]+)(?::(\d+))?/.exec(url)
  if (!m) throw new CoturnError(`cannot read a host from the TURN URL "${url}"`)
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 3478 }
}

/**
 * Starts and supervises one `turnserver` (ProcessSupervisor): ready once it answers a STUN Binding request on
 * its listening address; its configuration lives in a private temporary directory, removed at stop.
 */
export class CoturnSupervisor {
  readonly #options: CoturnOptions
  readonly #log: Logger
  #process: ProcessSupervisor | undefined
  #dir: string | undefined

  constructor(options: CoturnOptions, log: Logger) {
    this.#options = options
    this.#log = log.child({ component: 'coturn' })
  }

  /** Starts turnserver and resolves once it listens; rejects with a clear CoturnError otherwise. */
  async start(): Promise<void> {
    this.#dir = await mkdtemp(join(tmpdir(), 'parley-coturn-'))
    await writeFile(join(this.#dir, 'turnserver.conf'), coturnConfig(this.#options, this.#dir), {
      mode: 0o600,
    })
    const { host, port } = this.#options
    const binary = this.#options.binary ?? 'turnserver'
    this.#process = new ProcessSupervisor(
      {
        name: 'turnserver',
        binary,
        args: ['-c', join(this.#dir, 'turnserver.conf')],
        ready: (gaveUp) => stunAnswers(host, port, 10_000, gaveUp),
        missing: `--coturn needs Debian's coturn package: "${binary}" was not found (apt-get install coturn)`,
        notReady: 'turnserver did not answer STUN within 10 s',
        error: (message) => new CoturnError(message),
        readyFields: () => ({ host, port }),
      },
      this.#log,
    )
    await this.#process.start()
  }

  /** The running process id (tests). */
  get pid(): number | undefined {
    return this.#process?.pid
  }

  /** Stops turnserver (SIGTERM, then SIGKILL after 5 s) and removes its configuration. */
  async stop(): Promise<void> {
    await this.#process?.stop()
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true })
  }
}
