import { describe, expect, it } from 'vitest'
import { waitFor } from '@parley/test-kit'
import { CoturnError, CoturnSupervisor, coturnConfig, DENIED_PEER_RANGES, turnUrlAddress } from './coturn.js'
import { DEFAULT_COTURN, makeConfig, parseServeConfig } from './config.js'
import { createLogger } from './deps.js'
import { startServer } from './main.js'

const log = createLogger({ logLevel: 'silent' })
const base = { host: '127.0.0.1', port: 3478, secret: 's', ...DEFAULT_COTURN }

describe('coturn configuration', () => {
  it('denies private and loopback peers unless loopback is explicitly allowed', () => {
    const prod = coturnConfig(base)
    for (const range of DENIED_PEER_RANGES) expect(prod).toContain(`denied-peer-ip=${range}`)
    expect(prod).toContain('denied-peer-ip=10.0.0.0-10.255.255.255')
    expect(prod).not.toContain('allow-loopback-peers')
    expect(prod).toMatch(/^use-auth-secret$/m)
    expect(prod).toMatch(/^static-auth-secret=s$/m)
    expect(prod).toMatch(/^user-quota=10$/m)
    expect(prod).toMatch(/^total-quota=1000$/m)
    expect(prod).toMatch(/^realm=parley$/m)
    const test = coturnConfig({ ...base, allowLoopback: true })
    expect(test).toContain('allow-loopback-peers')
    expect(test).toContain('denied-peer-ip=192.168.0.0-192.168.255.255') // private ranges stay denied
  })

  it('reads host and port from TURN URLs', () => {
    expect(turnUrlAddress('turn:127.0.0.1:3478?transport=udp')).toEqual({ host: '127.0.0.1', port: 3478 })
    expect(turnUrlAddress('turns:turn.example.com:5349?transport=tcp')).toEqual({
      host: 'turn.example.com',
      port: 5349,
    })
    expect(turnUrlAddress('stun:[::1]:3479')).toEqual({ host: '::1', port: 3479 })
    expect(turnUrlAddress('turn:example.org')).toEqual({ host: 'example.org', port: 3478 })
  })

  it('parley serve flags: --coturn with its options; coturn options without --coturn are refused', () => {
    const c = parseServeConfig(['--coturn', '--coturn-allow-loopback', '--coturn-user-quota', '3'], {})
    expect(c.coturn).toMatchObject({ allowLoopback: true, userQuota: 3, totalQuota: 1000 })
    expect(parseServeConfig([], {}).coturn).toBeNull()
    expect(() => parseServeConfig(['--coturn-allow-loopback'], {})).toThrow(/goes with --coturn/)
  })
})

describe('coturn supervision (real turnserver)', () => {
  it('without the binary, start fails with an error naming the coturn package', async () => {
    const s = new CoturnSupervisor({ ...base, binary: '/nonexistent/turnserver' }, log)
    await expect(s.start()).rejects.toThrow(CoturnError)
    await expect(s.start()).rejects.toThrow(/apt-get install coturn/)
    await s.stop()
  })

  it('parley serve --coturn starts turnserver, restarts it when it dies, and stops it on shutdown', async () => {
    const port = 20_000 + Math.floor(Math.random() * 10_000)
    const server = await startServer(
      makeConfig({
        port: 0,
        db: 'sqlite::memory:',
        logLevel: 'silent',
        turnUrls: [`turn:127.0.0.1:${port}?transport=udp`],
        turnSecret: 'coturn-test-secret',
        coturn: { ...DEFAULT_COTURN, allowLoopback: true, minPort: port + 1, maxPort: port + 200 },
      }),
    )
    try {
      const first = server.coturn!.pid
      expect(first).toBeGreaterThan(0)
      process.kill(first!, 'SIGKILL')
      const second = await waitFor(
        () => {
          const pid = server.coturn!.pid
          return pid && pid !== first ? pid : undefined
        },
        15_000,
        'turnserver to be restarted',
      )
      expect(second).not.toBe(first)
    } finally {
      await server.close()
    }
    expect(server.coturn!.pid).toBeUndefined()
  })
})
