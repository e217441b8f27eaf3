import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { makeConfig } from '../config.js'
import { startServer, type ServerHandle } from '../main.js'

/** A UDP port on 127.0.0.1 answering ng pings with pong (a stand-in for rtpengine; the real one: e2e/). */
async function pongPeer(): Promise<Socket> {
  const socket = createSocket('udp4')
  socket.on('message', (message, from) => {
    const cookie = message.toString('latin1', 0, message.indexOf(0x20))
    socket.send(`${cookie} d6:result4:ponge`, from.port, from.address)
  })
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  return socket
}

describe('/readyz with a media gateway (--rtpengine)', () => {
  let server: ServerHandle | undefined
  let peer: Socket | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
    peer?.close()
    peer = undefined
  })

  const config = (port: number) =>
    makeConfig({
      port: 0,
      db: 'sqlite::memory:',
      logLevel: 'silent',
      rtpengine: { host: '127.0.0.1', port, timeoutMs: 500, spawn: null },
    })

  it('checks rtpengine too: 200 with "rtpengine": "ok" while it answers pings', async () => {
    peer = await pongPeer()
    server = await startServer(config(peer.address().port))
    expect(server.ctx.mediaGateway?.address).toBe(`udp:127.0.0.1:${peer.address().port}`)
    const res = await fetch(`${server.url}/readyz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toStrictEqual({
      status: 'ok',
      checks: { store: 'ok', bus: 'ok', rtpengine: 'ok' },
    })
  })

  it('503 naming rtpengine when it does not answer; the server still starts and stays healthy', async () => {
    peer = await pongPeer()
    const port = peer.address().port
    peer.close()
    peer = undefined
    server = await startServer(config(port))
    const res = await fetch(`${server.url}/readyz`)
    expect(res.status).toBe(503)
    expect(await res.json()).toStrictEqual({
      status: 'unavailable',
      checks: {
        store: 'ok',
        bus: 'ok',
        rtpengine: `error: rtpengine at udp:127.0.0.1:${port} did not answer within 500 ms`,
      },
    })
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
  })

  it('without --rtpengine there is no gateway and no rtpengine check', async () => {
    server = await startServer(makeConfig({ port: 0, db: 'sqlite::memory:', logLevel: 'silent' }))
    expect(server.ctx.mediaGateway).toBeUndefined()
    expect(await (await fetch(`${server.url}/readyz`)).json()).toStrictEqual({
      status: 'ok',
      checks: { store: 'ok', bus: 'ok' },
    })
  })
})
