import { startTestPlatform, type TestPlatform } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'

let p: TestPlatform | undefined
afterEach(async () => {
  await p?.close()
  p = undefined
})

const tokenForm = (clientId: string, username: string, password: string) =>
  new URLSearchParams({ client_id: clientId, username, password, grant_type: 'password' }).toString()

async function token(platform: TestPlatform, username: string, password: string) {
  const res = await fetch(`${platform.url}/cpaas/auth/v1/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'https://app.example' },
    body: tokenForm(platform.clientId, username, password),
  })
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
}

describe('rate limits (429 with Retry-After)', () => {
  it('the token endpoint limits attempts per login, whatever the password, and leaves other logins alone', async () => {
    p = await startTestPlatform({
      rateLimits: {
        tokenPerAddress: 1000,
        tokenPerLogin: 3,
        sessionsPerUser: 1000,
        concurrentCallsPerUser: 1000,
      },
    })
    for (let i = 0; i < 3; i++) expect((await token(p, 'alice@example.com', 'wrong')).status).toBe(400)
    const limited = await token(p, 'alice@example.com', p.passwords.alice!)
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(limited.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(limited.body).toEqual({ error: 'too_many_requests', error_description: expect.any(String) })
    expect((await token(p, 'bob@example.com', p.passwords.bob!)).status).toBe(200)
  })

  it('the token endpoint limits attempts per client address', async () => {
    p = await startTestPlatform({
      rateLimits: {
        tokenPerAddress: 4,
        tokenPerLogin: 1000,
        sessionsPerUser: 1000,
        concurrentCallsPerUser: 1000,
      },
    })
    const logins = ['alice', 'bob', 'carol', 'alice']
    for (const name of logins)
      expect((await token(p, `${name}@example.com`, p.passwords[name]!)).status).toBe(200)
    expect((await token(p, 'bob@example.com', p.passwords.bob!)).status).toBe(429)
  })

  it('call creation is limited per user with 429 POL0001 in the protocol error body', async () => {
    p = await startTestPlatform({
      rateLimits: {
        tokenPerAddress: 1000,
        tokenPerLogin: 1000,
        sessionsPerUser: 2,
        concurrentCallsPerUser: 1000,
      },
    })
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    for (let i = 0; i < 2; i++) expect((await alice.call('bob@example.com')).reply.status).toBe(201)
    const third = await alice.call('bob@example.com')
    expect(third.reply.status).toBe(429)
    expect(third.reply.headers.get('content-type')).toMatch(/^application\/json/)
    expect(Number(third.reply.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(third.reply.body).toEqual({
      requestError: { serviceException: { messageId: 'POL0001', text: 'Too many requests', variables: [] } },
    })
    // bob's own budget is untouched.
    expect((await bob.call('alice@example.com')).reply.status).toBe(201)
  })

  it('a user at the cap of concurrent calls gets 429 POL0002 until one of them ends', async () => {
    p = await startTestPlatform({
      rateLimits: {
        tokenPerAddress: 1000,
        tokenPerLogin: 1000,
        sessionsPerUser: 1000,
        concurrentCallsPerUser: 2,
      },
    })
    const alice = await p.subscribed('alice')
    await p.subscribed('bob')
    const first = await alice.call('bob@example.com')
    expect((await alice.call('bob@example.com')).reply.status).toBe(201)
    const third = await alice.call('bob@example.com')
    expect(third.reply.status).toBe(429)
    expect(third.reply.body).toEqual({
      requestError: {
        serviceException: { messageId: 'POL0002', text: 'Too many concurrent calls', variables: [] },
      },
    })
    expect((await alice.end(first.legId)).status).toBe(204)
    expect((await alice.call('bob@example.com')).reply.status).toBe(201)
  })
})
