import { describe, expect, it } from 'vitest'
import { idTokenFor } from '../test-support/fake-server.js'
import { readTokens } from './tokens.js'

describe('tokens (sdk-api §2.8, protocol.md §3.2)', () => {
  it('reads preferred_username and services-identity from the id token', () => {
    expect(readTokens('at', idTokenFor('alice'))).toEqual({
      accessToken: 'at',
      idToken: idTokenFor('alice'),
      username: 'alice',
      identity: 'alice@example.com',
    })
  })

  it('falls back to sub; refuses undecodable tokens', () => {
    const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '')
    expect(readTokens('at', `x.${b64({ sub: 'bob' })}.y`)?.username).toBe('bob')
    expect(readTokens('at', 'garbage')).toBeUndefined()
    expect(readTokens('', idTokenFor('a'))).toBeUndefined()
  })
})
