import { availableParallelism } from 'node:os'
import { describe, expect, it } from 'vitest'
import { ConfigError, DEFAULT_TIMINGS, parseServeConfig } from './config.js'

describe('parseServeConfig', () => {
  it('has the documented defaults', () => {
    const c = parseServeConfig([], {})
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      db: 'sqlite:./data/parley.db',
      tls: null,
      turnUrls: [],
      tokenTtl: 3600,
      demo: false,
    })
    // Protocol timers (§11.13): no-answer 60 s, liveness 75 s, Cancelled repeat 1.5 s, guard 1 s, channel floor 2 min.
    expect(DEFAULT_TIMINGS).toMatchObject({
      noAnswerMs: 60_000,
      livenessMs: 75_000,
      cancelRepeatMs: 1_500,
      guardMs: 1_000,
      channelMinIdleMs: 120_000,
    })
  })

  it('reads flags, with PARLEY_* environment variables as fallbacks', () => {
    const c = parseServeConfig(
      [
        '--port',
        '9000',
        '--turn-url',
        'turn:127.0.0.1:3478?transport=udp',
        '--turn-url',
        'stun:127.0.0.1:3478',
        '--demo',
      ],
      {
        PARLEY_HOST: '0.0.0.0',
        PARLEY_PORT: '1234',
        PARLEY_TURN_SECRET: 's3cret',
        PARLEY_TOKEN_TTL: '60',
        PARLEY_TLS_SELF_SIGNED: 'true',
      },
    )
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 9000,
      turnUrls: ['turn:127.0.0.1:3478?transport=udp', 'stun:127.0.0.1:3478'],
      turnSecret: 's3cret',
      tokenTtl: 60,
      tls: 'self-signed',
      demo: true,
    })
    expect(parseServeConfig([], { PARLEY_TURN_URL: 'turn:a:3478, stun:b:3478' }).turnUrls).toEqual([
      'turn:a:3478',
      'stun:b:3478',
    ])
  })

  it('rejects bad values with a message naming the flag', () => {
    expect(() => parseServeConfig(['--port', 'eighty'], {})).toThrow(ConfigError)
    expect(() => parseServeConfig(['--port', '70000'], {})).toThrow(/--port/)
    expect(() => parseServeConfig(['--turn-url', 'http://x'], {})).toThrow(/--turn-url/)
    expect(() => parseServeConfig(['--tls-cert', 'a.pem'], {})).toThrow(/--tls-key/)
    expect(() => parseServeConfig(['--log-level', 'loud'], {})).toThrow(/--log-level/)
    expect(() => parseServeConfig(['--bogus'], {})).toThrow(ConfigError)
  })

  it('--workers (or PARLEY_WORKERS) takes a count from 1 to 256 or auto; default 1', () => {
    const db = { PARLEY_DB: 'sqlite:./data/parley.db' }
    expect(parseServeConfig([], {}).workers).toBe(1)
    expect(parseServeConfig(['--workers', '4'], {}).workers).toBe(4)
    expect(parseServeConfig([], { ...db, PARLEY_WORKERS: '3' }).workers).toBe(3)
    expect(parseServeConfig(['--workers', '2'], { PARLEY_WORKERS: '8' }).workers).toBe(2) // flags win
    expect(parseServeConfig(['--workers', '1'], {}).workers).toBe(1)
    expect(parseServeConfig(['--workers', '256'], {}).workers).toBe(256)
    expect(parseServeConfig(['--workers', 'auto'], {}).workers).toBe(availableParallelism())
    expect(parseServeConfig([], { PARLEY_WORKERS: 'auto' }).workers).toBe(availableParallelism())
    expect(parseServeConfig([], { PARLEY_WORKERS: '' }).workers).toBe(1) // empty: unset, like every variable
  })

  it('rejects a bad --workers or PARLEY_WORKERS with a message naming the flag and the value', () => {
    for (const bad of ['0', '-1', 'two', '1.5', '257', '', ' ', '0x2', '1e1', 'AUTO']) {
      expect(() => parseServeConfig([`--workers=${bad}`], {})).toThrow(ConfigError)
      expect(() => parseServeConfig([`--workers=${bad}`], {})).toThrow(
        `--workers must be auto or an integer from 1 to 256, got "${bad}"`,
      )
    }
    expect(() => parseServeConfig([], { PARLEY_WORKERS: 'many' })).toThrow(/--workers must be auto/)
  })

  it('refuses several workers on sqlite::memory:, a database each process would have to itself', () => {
    const memory = /--workers above 1 needs a shared store/
    expect(() => parseServeConfig(['--workers', '2', '--db', 'sqlite::memory:'], {})).toThrow(memory)
    expect(() => parseServeConfig([], { PARLEY_WORKERS: '2', PARLEY_DB: 'sqlite::memory:' })).toThrow(memory)
    expect(parseServeConfig(['--workers', '1', '--db', 'sqlite::memory:'], {}).workers).toBe(1)
    expect(parseServeConfig(['--workers', '2', '--db', 'sqlite:/tmp/parley.db'], {}).workers).toBe(2)
  })

  it('--redis (or PARLEY_REDIS) selects the Redis bus; unset means the in-process bus', () => {
    expect(parseServeConfig([], {}).redis).toBeUndefined()
    expect(parseServeConfig(['--redis', 'redis://127.0.0.1:6379'], {}).redis).toBe('redis://127.0.0.1:6379')
    expect(parseServeConfig([], { PARLEY_REDIS: 'rediss://:pw@cache:6380/1' }).redis).toBe(
      'rediss://:pw@cache:6380/1',
    )
    const bad = () => parseServeConfig(['--redis', 'http://:hunter2@cache'], {})
    expect(bad).toThrow(/--redis must be a redis:\/\//)
    expect(bad).not.toThrow(/hunter2/)
  })

  it('--sip-trunk and its companions configure the SIP user agent; without it there is none', () => {
    expect(parseServeConfig([], {}).sip).toBeNull()
    const c = parseServeConfig(
      [
        '--sip-trunk',
        'sip:203.0.113.5:5080;transport=tcp',
        '--sip-trusted',
        '198.51.100.0/24',
        '--sip-trusted',
        '2001:db8::/32',
        '--sip-username',
        'acct',
      ],
      { PARLEY_SIP_PASSWORD: 'pw', PARLEY_SIP_LISTEN: '0.0.0.0:5070', PARLEY_SIP_INVITE_TIMEOUT: '8' },
    )
    expect(c.sip).toEqual({
      trunk: { host: '203.0.113.5', port: 5080, transport: 'tcp' },
      listen: { host: '0.0.0.0', port: 5070 },
      username: 'acct',
      password: 'pw',
      trusted: ['198.51.100.0/24', '2001:db8::/32'],
      inviteTimeoutMs: 8_000,
    })
    expect(
      parseServeConfig(['--sip-trunk', 'sip:carrier.example'], {
        PARLEY_SIP_TRUSTED: '10.0.0.1, 10.1.0.0/16',
      }).sip,
    ).toMatchObject({
      trunk: { host: 'carrier.example', port: 5060, transport: 'udp' },
      listen: { host: '127.0.0.1', port: 5060 },
      trusted: ['10.0.0.1', '10.1.0.0/16'],
      inviteTimeoutMs: 32_000,
    })
  })

  it('rejects bad --sip-* values with a message naming the flag', () => {
    const trunk = ['--sip-trunk', 'sip:203.0.113.5']
    expect(() => parseServeConfig(['--sip-trunk', 'http://x'], {})).toThrow(/--sip-trunk must be sip:HOST/)
    expect(() => parseServeConfig(['--sip-trunk', 'sip:h;transport=tls'], {})).toThrow(
      /transport must be udp or tcp/,
    )
    expect(() => parseServeConfig([...trunk, '--sip-listen', 'localhost'], {})).toThrow(
      /--sip-listen must be IP:PORT/,
    )
    expect(() => parseServeConfig([...trunk, '--sip-trusted', '10.0.0.0/40'], {})).toThrow(
      /bad prefix length/,
    )
    expect(() => parseServeConfig([...trunk, '--sip-trusted', 'nonsense'], {})).toThrow(ConfigError)
    expect(() => parseServeConfig([...trunk, '--sip-username', 'u'], {})).toThrow(/go together/)
    expect(() => parseServeConfig([...trunk, '--sip-invite-timeout', '0'], {})).toThrow(
      /--sip-invite-timeout/,
    )
    expect(() => parseServeConfig(['--sip-listen', '127.0.0.1:5060'], {})).toThrow(
      /--sip-listen goes with --sip-trunk/,
    )
    expect(() => parseServeConfig(['--sip-trusted', '10.0.0.0/8'], {})).toThrow(
      /--sip-trusted goes with --sip-trunk/,
    )
  })
})
