import { describe, expect, it } from 'vitest'
import { parseServeConfig } from './config.js'

describe('--rtpengine and --rtpengine-spawn (issue 11)', () => {
  it('neither set: no media gateway', () => {
    expect(parseServeConfig([], {}).rtpengine).toBeNull()
  })

  it('--rtpengine udp:HOST:PORT (or PARLEY_RTPENGINE) points at a running rtpengine', () => {
    expect(parseServeConfig(['--rtpengine', 'udp:10.0.0.5:22222'], {}).rtpengine).toStrictEqual({
      host: '10.0.0.5',
      port: 22222,
      timeoutMs: 3000,
      spawn: null,
    })
    expect(parseServeConfig([], { PARLEY_RTPENGINE: 'udp:[::1]:2223' }).rtpengine).toMatchObject({
      host: '::1',
      port: 2223,
      spawn: null,
    })
  })

  it('--rtpengine-spawn (or PARLEY_RTPENGINE_SPAWN=1) starts one on udp:127.0.0.1:2223 with the default port range', () => {
    for (const c of [
      parseServeConfig(['--rtpengine-spawn'], {}),
      parseServeConfig([], { PARLEY_RTPENGINE_SPAWN: '1' }),
    ]) {
      expect(c.rtpengine).toStrictEqual({
        host: '127.0.0.1',
        port: 2223,
        timeoutMs: 3000,
        spawn: { interface: '127.0.0.1', minPort: 30000, maxPort: 40000 },
      })
    }
    const custom = parseServeConfig(
      [
        '--rtpengine-spawn',
        '--rtpengine',
        'udp:127.0.0.1:9999',
        '--rtpengine-interface',
        '10.0.0.2!203.0.113.7',
        '--rtpengine-min-port',
        '20000',
        '--rtpengine-max-port',
        '20100',
      ],
      {},
    )
    expect(custom.rtpengine).toMatchObject({
      port: 9999,
      spawn: { interface: '10.0.0.2!203.0.113.7', minPort: 20000, maxPort: 20100 },
    })
  })

  it('refuses bad values with one message naming the flag', () => {
    expect(() => parseServeConfig(['--rtpengine', '127.0.0.1:2223'], {})).toThrow(
      '--rtpengine must be udp:HOST:PORT (e.g. udp:127.0.0.1:2223), got "127.0.0.1:2223"',
    )
    expect(() => parseServeConfig(['--rtpengine-interface', '10.0.0.2'], {})).toThrow(
      '--rtpengine-interface goes with --rtpengine-spawn',
    )
    expect(() =>
      parseServeConfig(['--rtpengine-spawn', '--rtpengine-interface', 'eth0; rm -rf /'], {}),
    ).toThrow(/--rtpengine-interface must be IP/)
    expect(() =>
      parseServeConfig(
        ['--rtpengine-spawn', '--rtpengine-min-port', '5000', '--rtpengine-max-port', '4000'],
        {},
      ),
    ).toThrow('--rtpengine-min-port must not exceed --rtpengine-max-port')
    expect(() => parseServeConfig(['--rtpengine-spawn', '--rtpengine-max-port', '70000'], {})).toThrow(
      /--rtpengine-max-port must be a positive integer/,
    )
  })
})
