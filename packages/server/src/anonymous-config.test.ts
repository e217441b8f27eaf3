import { describe, expect, it } from 'vitest'
import { ConfigError, makeConfig, parseServeConfig } from './config.js'

describe('anonymous-call flags of parley serve (issue 15)', () => {
  it('default to 15-minute tokens, 20 calls per account, 120 grants per key and 10 per address a minute', () => {
    expect(makeConfig().anonymous).toEqual({
      tokenTtl: 900,
      maxCallsPerAccount: 20,
      tokenPerKey: 120,
      tokenPerAddress: 10,
    })
  })

  it('take flags, fall back to PARLEY_* variables, and refuse non-positive values', () => {
    const cfg = parseServeConfig(
      ['--anonymous-token-ttl', '300', '--max-anonymous-calls', '5', '--rate-limit-anonymous-key', '30'],
      { PARLEY_RATE_LIMIT_ANONYMOUS_ADDRESS: '4', PARLEY_ANONYMOUS_TOKEN_TTL: '999' },
    )
    expect(cfg.anonymous).toEqual({
      tokenTtl: 300,
      maxCallsPerAccount: 5,
      tokenPerKey: 30,
      tokenPerAddress: 4,
    })
    expect(parseServeConfig([], { PARLEY_ANONYMOUS_TOKEN_TTL: '60' }).anonymous.tokenTtl).toBe(60)
    expect(() => parseServeConfig(['--max-anonymous-calls', '0'], {})).toThrow(ConfigError)
    expect(() => parseServeConfig(['--anonymous-token-ttl', 'soon'], {})).toThrow(/anonymous-token-ttl/)
  })
})
