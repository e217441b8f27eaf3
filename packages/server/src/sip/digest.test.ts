import { describe, expect, it } from 'vitest'
import { digestAuthorization, parseChallenge, pickChallenge } from './digest.js'

describe('digest', () => {
  it('computes the RFC 2617 §3.5 example (MD5, qop=auth)', () => {
    const challenge = parseChallenge(
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    )!
    const value = digestAuthorization({
      challenge,
      method: 'GET',
      uri: '/dir/index.html',
      username: 'Mufasa',
      password: 'Circle Of Life',
      cnonce: '0a4f113b',
    })
    expect(value).toContain('response="6629fae49393a05397450978507c4ef1"')
    expect(value).toContain('nc=00000001')
    expect(value).toContain('opaque="5ccc069c403ebaf9f0171e9517f40e41"')
  })

  it('computes the RFC 7616 §3.9.1 example with SHA-256 and with MD5', () => {
    const base = {
      method: 'GET',
      uri: '/dir/index.html',
      username: 'Mufasa',
      password: 'Circle of Life',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    }
    const params =
      'realm="http-auth@example.org", qop="auth, auth-int", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    const sha = parseChallenge(`Digest ${params}, algorithm=SHA-256`)!
    const md5 = parseChallenge(`Digest ${params}, algorithm=MD5`)!
    expect(digestAuthorization({ challenge: sha, ...base })).toContain(
      'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"',
    )
    expect(digestAuthorization({ challenge: md5, ...base })).toContain(
      'response="8ca523f5e9506fed4657c9700eebdbec"',
    )
  })

  it('prefers SHA-256 among several challenges (RFC 8760 §2.4) and ignores unknown algorithms and schemes', () => {
    const picked = pickChallenge([
      'Digest realm="r", nonce="n1", algorithm=MD5, qop="auth"',
      'Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"',
      'Digest realm="r", nonce="n3", algorithm=SHA-512-256, qop="auth"',
      'Basic realm="r"',
    ])
    expect(picked?.nonce).toBe('n2')
    expect(pickChallenge(['Digest realm="r", nonce="n", algorithm=SHA-512-256'])).toBeNull()
    expect(parseChallenge('Digest realm="r"')).toBeNull()
  })

  it('answers a challenge without qop the RFC 2069 way', () => {
    const c = parseChallenge('Digest realm="sip.example", nonce="abc"')!
    const value = digestAuthorization({
      challenge: c,
      method: 'INVITE',
      uri: 'sip:+1@h',
      username: 'u',
      password: 'p',
    })
    expect(value).not.toContain('qop=')
    expect(value).toMatch(/response="[0-9a-f]{32}"/)
  })
})
