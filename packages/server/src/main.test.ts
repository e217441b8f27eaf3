import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestPlatform, waitFor, type TestPlatform } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { makeConfig } from './config.js'
import { startServer } from './main.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

describe('server restart (protocol §5.5: persist channels, subscriptions, queues and calls)', () => {
  it('loses no session: after a restart on the same SQLite file the call is answered and both sides hear of it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-restart-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const db = `sqlite:${join(dir, 'parley.db')}`
    const p1: TestPlatform = await startTestPlatform({ db })
    const alice = await p1.subscribed('alice')
    const bob = await p1.subscribed('bob')
    const { legId: la } = await alice.call('sip:bob@example.com')
    const { legId: lb } = await bob.invitation()
    expect((await bob.status(lb, 'Ringing')).status).toBe(200)
    await alice.event('Ringing', la)
    const port = p1.server.port
    await p1.server.close()
    await waitFor(
      () => alice.closes.length > 0 && bob.closes.length > 0,
      3000,
      'sockets closed by the shutdown',
    )
    expect(alice.closes[0]!.code).toBe(1001)

    // Same port, same file: the clients reconnect to the same channel URLs with their old tokens.
    const p2 = await startServer(
      makeConfig({ port, db, logLevel: 'silent', timings: { timerPollMs: 20, sweepMs: 250 } }),
    )
    cleanups.push(() => p2.close())
    await alice.connect()
    await bob.connect()
    expect((await bob.status(lb, 'Connected')).body).toEqual({ wrtcsSessionStatus: { status: 'Ringing' } })
    expect((await bob.answer(lb)).status).toBe(204)
    await alice.next(
      (r) => r.kind === 'wrtcsAcceptanceNotification' && r.legId === la,
      'acceptance after the restart',
    )
    expect((await alice.end(la)).status).toBe(204)
    await bob.event('SessionEnded', lb)
    const records = await p2.ctx.store.listCallRecords(10)
    expect(records[0]).toMatchObject({
      caller: 'alice',
      callee: 'bob',
      state: 'ended',
      endReason: 'ended by caller',
    })
    expect(records[0]!.answeredAt).not.toBeNull()
  })
})

/** A JSON request over HTTPS that accepts the self-signed certificate. */
function httpsRequest(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string },
) {
  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const req = request(
      url,
      { method: init.method, headers: init.headers, rejectUnauthorized: false },
      (res) => {
        let text = ''
        res.on('data', (c) => (text += String(c)))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }),
        )
      },
    )
    req.on('error', reject)
    req.end(init.body)
  })
}

describe('TLS (protocol §2.3: wss on the REST host and port)', () => {
  it('--tls-self-signed serves the token endpoint over https and channel websockets over wss on the same port', async () => {
    const p = await startTestPlatform({ tls: 'self-signed' })
    cleanups.push(() => p.close())
    expect(p.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const tokens = await httpsRequest(`${p.url}/cpaas/auth/v1/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: p.clientId,
        username: 'alice@example.com',
        password: p.passwords.alice!,
        grant_type: 'password',
      }).toString(),
    })
    expect(tokens.status).toBe(200)
    const token = (tokens.body as { access_token: string }).access_token
    const channel = await httpsRequest(`${p.url}/cpaas/notificationchannel/v1/alice/channels`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ notificationChannel: { channelType: 'Websockets' } }),
    })
    expect(channel.status).toBe(201)
    const path = (channel.body as { notificationChannel: { channelData: { channelURL: string } } })
      .notificationChannel.channelData.channelURL
    const ws = new WebSocket(`${p.url.replace('https', 'wss')}${path}?access_token=${token}`, {
      rejectUnauthorized: false,
    })
    const ack = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('{"connCheck":{"interval":30}}'))
      ws.once('message', (d) => resolve(String(d)))
      ws.once('error', reject)
    })
    expect(ack).toBe('{"connAck":{}}')
    ws.close()
  })
})

describe('--sip-trunk lifecycle', () => {
  it('starts the SIP user agent with the server (its INVITEs reach the call layer: 503 without a media gateway) and frees its port on close', async () => {
    const { SipUserAgent } = await import('./sip/index.js')
    const carrier = new SipUserAgent({
      listen: { host: '127.0.0.1', port: 0 },
      trunk: { host: '127.0.0.1', port: 9, transport: 'udp' },
    })
    await carrier.start()
    cleanups.push(() => carrier.close())
    const sip = {
      trunk: { host: '127.0.0.1', port: carrier.address.port, transport: 'udp' as const },
      listen: { host: '127.0.0.1', port: 0 },
      username: undefined,
      password: undefined,
      trusted: [],
      inviteTimeoutMs: 5_000,
    }
    const server = await startServer(makeConfig({ port: 0, db: 'sqlite::memory:', logLevel: 'silent', sip }))
    const sipPort = server.sip!.address.port
    expect(sipPort).toBeGreaterThan(0)
    const toParley = new SipUserAgent({
      listen: { host: '127.0.0.1', port: 0 },
      trunk: { host: '127.0.0.1', port: sipPort, transport: 'udp' },
    })
    await toParley.start()
    cleanups.push(() => toParley.close())
    const call = toParley.invite({ from: '+15550100', to: '+15550123', sdp: 'v=0\r\n' })
    const failed = await new Promise<{ status: number }>((resolve) => call.once('failed', resolve))
    expect(failed.status).toBe(503)
    await server.close()
    // The port is free again: another UA can bind it.
    const again = new SipUserAgent({
      listen: { host: '127.0.0.1', port: sipPort },
      trunk: { host: '127.0.0.1', port: 9, transport: 'udp' },
    })
    await again.start()
    await again.close()
  })
})
