/**
 * UDP and TCP transports (RFC 3261 §18) on one listen address: a datagram is one message; a TCP stream is cut
 * into messages by Content-Length. Inbound TCP connections are kept and reused to send back to that peer,
 * outbound ones are opened on demand and reused (RFC 3261 §18.1.1, §18.2.2).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { createConnection, createServer, isIP, type Server, type Socket } from 'node:net'
import { frameLength, MAX_MESSAGE_BYTES } from './message.js'
import type { SipTransportName } from './types.js'

/** Where a message came from. */
export interface Source {
  address: string
  port: number
  transport: SipTransportName
}

/** Why bytes were dropped before parsing. */
export type TransportDrop = 'oversized'

export interface TransportHandlers {
  message(data: Buffer, source: Source): void
  drop(kind: TransportDrop, source: Source): void
}

/** Idle TCP connections are closed after this long (a trunk keeps its connection busy or re-opens it). */
const TCP_IDLE_MS = 10 * 60_000
/** Bound on simultaneously open TCP connections, against a connection flood. */
const MAX_TCP_CONNECTIONS = 1024

const key = (host: string, port: number) => `${host}|${port}`

/** UDP socket + TCP server and connections on one address. */
export class SipTransports {
  #udp: UdpSocket | undefined
  #tcp: Server | undefined
  readonly #connections = new Map<string, Socket>()
  readonly #pending = new Map<string, Promise<Socket>>()
  #port = 0

  constructor(
    readonly host: string,
    readonly requestedPort: number,
    readonly handlers: TransportHandlers,
    readonly maxBytes = MAX_MESSAGE_BYTES,
  ) {}

  get port(): number {
    return this.#port
  }

  async start(): Promise<void> {
    // Port 0: take the port UDP got for TCP too; if TCP cannot have it, try again (rare).
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket({ type: isIP(this.host) === 6 ? 'udp6' : 'udp4' })
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject)
        udp.bind(this.requestedPort, this.host, () => {
          udp.off('error', reject)
          resolve()
        })
      })
      const port = udp.address().port
      const tcp = createServer((socket) => this.#adopt(socket))
      tcp.maxConnections = MAX_TCP_CONNECTIONS
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject)
          tcp.listen(port, this.host, () => {
            tcp.off('error', reject)
            resolve()
          })
        })
      } catch (err) {
        udp.close()
        if (this.requestedPort === 0 && attempt < 5) continue
        throw err
      }
      udp.on('message', (data, rinfo) => {
        const source: Source = { address: rinfo.address, port: rinfo.port, transport: 'udp' }
        if (data.length > this.maxBytes) this.handlers.drop('oversized', source)
        else this.handlers.message(data, source)
      })
      // Errors of an unconnected UDP socket (e.g. a send to an unroutable address) are not fatal.
      udp.on('error', () => undefined)
      tcp.on('error', () => undefined)
      this.#udp = udp
      this.#tcp = tcp
      this.#port = port
      return
    }
  }

  /** Sends bytes; for TCP, over the peer's open connection or a new one. Rejects on a transport error. */
  async send(transport: SipTransportName, host: string, port: number, data: Buffer): Promise<void> {
    if (transport === 'udp') {
      const udp = this.#udp
      if (!udp) throw new Error('SIP transport is closed')
      await new Promise<void>((resolve, reject) =>
        udp.send(data, port, host, (err) => (err ? reject(err) : resolve())),
      )
      return
    }
    const socket = await this.#connection(host, port)
    await new Promise<void>((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())))
  }

  async #connection(host: string, port: number): Promise<Socket> {
    const k = key(host, port)
    const open = this.#connections.get(k)
    if (open && !open.destroyed) return open
    const pending = this.#pending.get(k)
    if (pending) return pending
    if (!this.#tcp) throw new Error('SIP transport is closed')
    const p = new Promise<Socket>((resolve, reject) => {
      const socket = createConnection({
        host,
        port,
        localAddress: this.host === '0.0.0.0' ? undefined : this.host,
      })
      const onError = (err: Error) => reject(err)
      socket.once('error', onError)
      socket.setTimeout(10_000, () => socket.destroy(new Error('TCP connect timed out')))
      socket.once('connect', () => {
        socket.off('error', onError)
        this.#adopt(socket, k)
        resolve(socket)
      })
    }).finally(() => this.#pending.delete(k))
    this.#pending.set(k, p)
    return p
  }

  /** Frames an accepted or opened connection's stream into messages. */
  #adopt(socket: Socket, k = key(socket.remoteAddress ?? '', socket.remotePort ?? 0)): void {
    const source: Source = {
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      transport: 'tcp',
    }
    this.#connections.set(k, socket)
    let buffer: Buffer = Buffer.alloc(0)
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy())
    socket.on('error', () => undefined)
    socket.on('close', () => {
      if (this.#connections.get(k) === socket) this.#connections.delete(k)
    })
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk
      for (;;) {
        // RFC 5626 §3.5.1 keep-alive: CRLFCRLF ping answered with CRLF; stray CRLFs between messages skipped.
        let skip = 0
        while (skip < buffer.length && (buffer[skip] === 0x0d || buffer[skip] === 0x0a)) skip++
        if (skip > 0) {
          if (buffer.subarray(0, skip).toString() === '\r\n\r\n') socket.write('\r\n')
          buffer = buffer.subarray(skip)
        }
        if (buffer.length === 0) return
        const length = frameLength(buffer, this.maxBytes)
        if (length === null) return
        if (length === 'invalid') {
          // The stream cannot be re-synchronised after an oversized or broken frame: close it.
          this.handlers.drop('oversized', source)
          socket.destroy()
          return
        }
        const message = buffer.subarray(0, length)
        buffer = buffer.subarray(length)
        this.handlers.message(message, source)
      }
    })
  }

  async close(): Promise<void> {
    for (const socket of this.#connections.values()) socket.destroy()
    this.#connections.clear()
    const udp = this.#udp
    const tcp = this.#tcp
    this.#udp = undefined
    this.#tcp = undefined
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()))
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()))
  }
}
