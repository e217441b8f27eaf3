import { isValidUsername } from '@parley/protocol'
import { describe, expect, it } from 'vitest'
import { usernameForLogin } from './accounts.js'
import { hashPassword, verifyPassword } from './passwords.js'

describe('usernames (protocol §2.4, §3.1)', () => {
  it('usernameForLogin takes the local part and replaces characters outside [A-Za-z0-9._-] with _', () => {
    expect(usernameForLogin('alice@example.com')).toBe('alice')
    expect(usernameForLogin('a+b c@example.com')).toBe('a_b_c')
    expect(usernameForLogin("o'brien@x.y")).toBe('o_brien')
  })
  it('isValidUsername refuses names ending in "sessions" and non-URL-safe names', () => {
    expect(isValidUsername('alice')).toBe(true)
    expect(isValidUsername('jsessions')).toBe(false)
    expect(isValidUsername('a/b')).toBe(false)
    expect(isValidUsername('')).toBe(false)
  })
})

describe('passwords', () => {
  it('hashPassword stores an scrypt hash, never the password, and verifyPassword checks it', async () => {
    const hash = await hashPassword('correct horse battery')
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$/)
    expect(hash).not.toContain('correct horse')
    expect(await verifyPassword('correct horse battery', hash)).toBe(true)
    expect(await verifyPassword('wrong', hash)).toBe(false)
    expect(await verifyPassword('x', 'garbage')).toBe(false)
  })
})
