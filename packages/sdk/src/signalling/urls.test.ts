import { describe, expect, it } from 'vitest'
import { parseBase, restOrigin, socketUrl } from './urls.js'

const server = (base: string, extra: Partial<{ protocol: 'http' | 'https'; port: number }> = {}) => ({
  base,
  protocol: 'https' as const,
  port: 443,
  version: 'v1',
  ...extra,
})

describe('URL building (protocol.md §2.2, §2.3)', () => {
  it('always writes the port, even 443', () => {
    expect(restOrigin(server('parley.example.com'), false)).toBe('https://parley.example.com:443')
  })

  it('uses an explicit port', () => {
    expect(restOrigin(server('parley.example.com', { port: 8443 }), true)).toBe(
      'https://parley.example.com:8443',
    )
  })

  it('Parley extension: a port inside base is used when server.port was not set', () => {
    expect(restOrigin(server('localhost:8443'), false)).toBe('https://localhost:8443')
    expect(restOrigin(server('[::1]:8443'), false)).toBe('https://[::1]:8443')
    // An explicit port wins.
    expect(restOrigin(server('localhost:8443', { port: 9000 }), true)).toBe('https://localhost:9000')
  })

  it('strips a scheme or path pasted into base', () => {
    expect(parseBase('https://parley.example.com/app')).toEqual({
      host: 'parley.example.com',
      port: undefined,
    })
  })

  it('websocket: wss by default, ws for an http server (§14.8), token as the only query parameter', () => {
    const path = '/cpaas/notificationchannel/v1/alice/channels/ch-1/websocket'
    expect(socketUrl(server('h'), false, path, 'tok')).toBe(`wss://h:443${path}?access_token=tok`)
    expect(socketUrl(server('127.0.0.1:8080', { protocol: 'http' }), false, path, 'a.b-c_d')).toBe(
      `ws://127.0.0.1:8080${path}?access_token=a.b-c_d`,
    )
  })
})
