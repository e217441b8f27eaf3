import { startTestPlatform, type TestPlatform } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { createAdmin } from '../services/admin.js'

let p: TestPlatform | undefined
afterEach(async () => {
  await p?.close()
  p = undefined
})

const PASSWORD = 'console-password-1'
const API = '/parley/admin/v1'

/** A platform with an administrator of each account (`adminA` of alice's, `adminB` of mallory's) and an operator. */
async function platform(
  timings: { consoleIdleMs?: number } = {},
  overrides: Parameters<typeof startTestPlatform>[0] = {},
) {
  p = await startTestPlatform({ ...overrides, timings })
  const ctx = p.server.ctx
  await createAdmin(ctx, { clientId: p.clientId, username: 'adminA', password: PASSWORD })
  await createAdmin(ctx, { clientId: p.otherClientId, username: 'adminB', password: PASSWORD })
  await createAdmin(ctx, { username: 'operator', password: PASSWORD })
  return p
}

interface Session {
  cookie: string
  csrf: string
  setCookie: string
}

interface Reply<T = unknown> {
  status: number
  body: T
  headers: Headers
}

async function http<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { session?: Session; body?: unknown; csrf?: string | null; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.session) headers.cookie = options.session.cookie
  const csrf = options.csrf === undefined ? options.session?.csrf : options.csrf
  if (csrf !== null && csrf !== undefined) headers['x-parley-csrf'] = csrf
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${p!.url}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers }
}

async function signIn(username: string, password = PASSWORD): Promise<Session> {
  const res = await http<{ csrfToken: string }>('POST', `${API}/session`, {
    body: { username, password },
    csrf: 'sign-in',
  })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  const setCookie = res.headers.get('set-cookie') ?? ''
  return { cookie: setCookie.split(';')[0]!, csrf: res.body.csrfToken, setCookie }
}

const errorOf = (body: unknown) =>
  (body as { requestError: { serviceException: { messageId: string; text: string; variables: string[] } } })
    .requestError.serviceException

describe('console sign-in and sessions', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie and returns the CSRF token and the administrator', async () => {
    await platform()
    const s = await signIn('adminA')
    expect(s.setCookie).toMatch(
      /^parley_console=[^;]+; Path=\/parley\/admin; Max-Age=\d+; HttpOnly; SameSite=Strict$/,
    )
    expect(s.csrf.length).toBeGreaterThan(20)
    const me = await http<{ admin: { username: string; role: string; clientId: string }; csrfToken: string }>(
      'GET',
      `${API}/session`,
      { session: s },
    )
    expect(me.status).toBe(200)
    expect(me.body.admin).toMatchObject({ username: 'adminA', role: 'admin', clientId: p!.clientId })
    expect(me.body.csrfToken).toBe(s.csrf)
    expect(me.headers.get('cache-control')).toBe('no-store')
  })

  it('refuses wrong credentials, a missing cookie and a forged one with 401 and the reason', async () => {
    await platform()
    const wrong = await http('POST', `${API}/session`, {
      body: { username: 'adminA', password: 'not-the-password' },
      csrf: 'x',
    })
    expect(wrong.status).toBe(401)
    expect(errorOf(wrong.body)).toEqual({
      messageId: 'SVC0401',
      text: 'Console sign-in required: %1',
      variables: ['wrong username or password'],
    })
    expect(
      (await http('POST', `${API}/session`, { body: { username: 'nobody', password: 'x' }, csrf: 'x' }))
        .status,
    ).toBe(401)
    const none = await http('GET', `${API}/users`)
    expect(none.status).toBe(401)
    expect(errorOf(none.body).variables).toEqual(['no session; sign in'])
    const s = await signIn('adminA')
    const forged = { ...s, cookie: s.cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) }
    const bad = await http('GET', `${API}/users`, { session: forged })
    expect(bad.status).toBe(401)
    expect(errorOf(bad.body).variables).toEqual(['invalid session; sign in again'])
  })

  it('refuses a state-changing request without the CSRF header, or with a wrong one, or from another origin (403)', async () => {
    await platform()
    const s = await signIn('adminA')
    const body = { login: 'dora@example.com', password: 'dora-password-1' }
    const without = await http('POST', `${API}/users`, { session: s, body, csrf: null })
    expect(without.status).toBe(403)
    expect(errorOf(without.body)).toMatchObject({ messageId: 'SVC0403', variables: ['X-Parley-CSRF'] })
    expect((await http('POST', `${API}/users`, { session: s, body, csrf: 'guess' })).status).toBe(403)
    const foreign = await http('POST', `${API}/users`, {
      session: s,
      body,
      headers: { origin: 'https://evil.example' },
    })
    expect(foreign.status).toBe(403)
    expect(errorOf(foreign.body).variables).toEqual(['Origin'])
    // Sign-in itself needs the header too (a cross-site form cannot add one).
    expect(
      (await http('POST', `${API}/session`, { body: { username: 'adminA', password: PASSWORD }, csrf: null }))
        .status,
    ).toBe(403)
    // Nothing was created by the refused requests; with the token it works.
    const users = await http<{ users: { login: string }[] }>('GET', `${API}/users`, { session: s })
    expect(users.body.users.map((u) => u.login)).not.toContain('dora@example.com')
    expect((await http('POST', `${API}/users`, { session: s, body })).status).toBe(201)
  })

  it('an idle session expires: 401 "session expired"; activity renews it', async () => {
    const idle = 600
    await platform({ consoleIdleMs: idle })
    const s = await signIn('adminA')
    const renewed = await signIn('adminA')
    // Used halfway: renewed for another idle period.
    await new Promise((r) => setTimeout(r, idle / 2))
    const mid = await http('GET', `${API}/health`, { session: renewed })
    expect(mid.status).toBe(200)
    const fresh = { ...renewed, cookie: (mid.headers.get('set-cookie') ?? '').split(';')[0]! }
    await new Promise((r) => setTimeout(r, idle / 2 + 150))
    const expired = await http('GET', `${API}/users`, { session: s })
    expect(expired.status).toBe(401)
    expect(errorOf(expired.body).variables).toEqual(['session expired; sign in again'])
    expect((await http('GET', `${API}/users`, { session: fresh })).status).toBe(200)
  })

  it('sign-in attempts of one username are limited (429 with Retry-After), as at the token endpoint', async () => {
    await platform(
      {},
      {
        rateLimits: {
          tokenPerAddress: 100,
          tokenPerLogin: 3,
          sessionsPerUser: 100,
          concurrentCallsPerUser: 100,
        },
      },
    )
    const attempt = () =>
      http('POST', `${API}/session`, { body: { username: 'adminA', password: 'guess-guess' }, csrf: 'x' })
    for (let i = 0; i < 3; i++) expect((await attempt()).status).toBe(401)
    const limited = await attempt()
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(errorOf(limited.body).messageId).toBe('POL0001')
    // Another username is not held back.
    expect((await signIn('adminB')).csrf).toBeTruthy()
  })

  it('sign-out clears the cookie; a deleted administrator is signed out at the next request', async () => {
    await platform()
    const s = await signIn('adminA')
    const out = await http('DELETE', `${API}/session`, { session: s })
    expect(out.status).toBe(204)
    expect(out.headers.get('set-cookie')).toMatch(/^parley_console=; Path=\/parley\/admin; Max-Age=0/)
    const b = await signIn('adminB')
    const { deleteAdmin } = await import('../services/admin.js')
    await deleteAdmin(p!.server.ctx, 'adminB')
    const gone = await http('GET', `${API}/users`, { session: b })
    expect(gone.status).toBe(401)
    expect(errorOf(gone.body).variables).toEqual(['session no longer valid; sign in again'])
  })
})

describe('accounts are separate; the operator sees all', () => {
  it("an administrator of A lists only A's users and numbers, and gets 404 for B's", async () => {
    await platform()
    const a = await signIn('adminA')
    const b = await signIn('adminB')
    const usersA = await http<{ users: { id: string; login: string }[] }>('GET', `${API}/users`, {
      session: a,
    })
    expect(usersA.body.users.map((u) => u.login).sort()).toEqual([
      'alice@example.com',
      'bob@example.com',
      'carol@example.com',
    ])
    const usersB = await http<{ users: { id: string; login: string }[] }>('GET', `${API}/users`, {
      session: b,
    })
    expect(usersB.body.users.map((u) => u.login)).toEqual(['mallory@example.com'])
    const mallory = usersB.body.users[0]!.id
    const alice = usersA.body.users.find((u) => u.login === 'alice@example.com')!.id

    // A acts on B's user: 404, and nothing changes.
    expect((await http('DELETE', `${API}/users/${mallory}`, { session: a })).status).toBe(404)
    expect(
      (
        await http('PUT', `${API}/users/${mallory}/password`, {
          session: a,
          body: { password: 'pwned-password' },
        })
      ).status,
    ).toBe(404)
    expect(
      (
        await http('POST', `${API}/users`, {
          session: a,
          body: { login: 'x@example.com', password: 'long-enough-1', clientId: p!.otherClientId },
        })
      ).status,
    ).toBe(404)
    expect(await p!.client('mallory').login()).toBeDefined()

    // Numbers: B's number is invisible to A.
    const nb = await http('POST', `${API}/numbers`, {
      session: b,
      body: { number: '+15550001111', userId: mallory },
    })
    expect(nb.status, JSON.stringify(nb.body)).toBe(201)
    expect(nb.body).toMatchObject({ number: '+15550001111', user: 'mallory@example.com', callerId: true })
    const numbersA = await http<{ numbers: unknown[] }>('GET', `${API}/numbers`, { session: a })
    expect(numbersA.body.numbers).toEqual([])
    const enc = encodeURIComponent('+15550001111')
    expect((await http('DELETE', `${API}/numbers/${enc}`, { session: a })).status).toBe(404)
    expect(
      (await http('PUT', `${API}/numbers/${enc}/user`, { session: a, body: { userId: alice } })).status,
    ).toBe(404)
    // A cannot give its own number to B's user either.
    expect(
      (
        await http('POST', `${API}/numbers`, {
          session: a,
          body: { number: '+15550002222', userId: mallory },
        })
      ).status,
    ).toBe(404)

    // The operator sees both accounts.
    const op = await signIn('operator')
    const all = await http<{ users: { login: string }[] }>('GET', `${API}/users`, { session: op })
    expect(all.body.users.map((u) => u.login)).toEqual(
      expect.arrayContaining(['alice@example.com', 'mallory@example.com']),
    )
    const allNumbers = await http<{ numbers: { number: string }[] }>('GET', `${API}/numbers`, { session: op })
    expect(allNumbers.body.numbers.map((n) => n.number)).toContain('+15550001111')
    const accounts = await http<{ accounts: { clientId: string }[] }>('GET', `${API}/accounts`, {
      session: op,
    })
    expect(accounts.body.accounts.map((x) => x.clientId)).toEqual(
      expect.arrayContaining([p!.clientId, p!.otherClientId]),
    )
    // An operator names the account of a new user.
    const noAccount = await http('POST', `${API}/users`, {
      session: op,
      body: { login: 'y@example.com', password: 'long-enough-1' },
    })
    expect(noAccount.status).toBe(400)
    expect(errorOf(noAccount.body).variables[0]).toBe('clientId')
  })

  it('users: create, reset password (old password stops working), delete; numbers: add, assign, unassign, delete', async () => {
    await platform()
    const a = await signIn('adminA')
    const created = await http<{ id: string; login: string }>('POST', `${API}/users`, {
      session: a,
      body: { login: 'Dora@Example.com', password: 'dora-password-1' },
    })
    expect(created.status).toBe(201)
    expect(created.body.login).toBe('dora@example.com')
    const token = async (password: string) =>
      (
        await fetch(`${p!.url}/cpaas/auth/v1/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'password',
            client_id: p!.clientId,
            username: 'dora@example.com',
            password,
            scope: 'openid',
          }),
        })
      ).status
    expect(await token('dora-password-1')).toBe(200)
    const reset = await http('PUT', `${API}/users/${created.body.id}/password`, {
      session: a,
      body: { password: 'dora-password-2' },
    })
    expect(reset.status).toBe(204)
    expect(await token('dora-password-1')).toBe(400)
    expect(await token('dora-password-2')).toBe(200)

    const added = await http('POST', `${API}/numbers`, { session: a, body: { number: '+15551230000' } })
    expect(added.status).toBe(201)
    expect(added.body).toMatchObject({ user: null, callerId: false })
    const enc = encodeURIComponent('+15551230000')
    const assigned = await http('PUT', `${API}/numbers/${enc}/user`, {
      session: a,
      body: { userId: created.body.id },
    })
    expect(assigned.status).toBe(200)
    expect(assigned.body).toMatchObject({ user: 'dora@example.com', callerId: true })
    const unassigned = await http('PUT', `${API}/numbers/${enc}/user`, { session: a, body: { userId: null } })
    expect(unassigned.body).toMatchObject({ user: null })
    expect((await http('DELETE', `${API}/numbers/${enc}`, { session: a })).status).toBe(204)
    expect((await http('DELETE', `${API}/numbers/${enc}`, { session: a })).status).toBe(404)

    expect((await http('DELETE', `${API}/users/${created.body.id}`, { session: a })).status).toBe(204)
    expect((await http('DELETE', `${API}/users/${created.body.id}`, { session: a })).status).toBe(404)
  })

  it('bad input gets a 4xx with the protocol error body naming the part', async () => {
    await platform()
    const a = await signIn('adminA')
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/users', { login: 'no-at-sign', password: 'long-enough-1' }, 400, 'login'],
      ['POST', '/users', { login: 'e@example.com', password: 'short' }, 400, 'login'],
      ['POST', '/users', { login: 'alice@example.com', password: 'long-enough-1' }, 409, 'login'],
      ['POST', '/users', { login: 'e@example.com' }, 400, 'password'],
      ['POST', '/users', { login: 'e@example.com', password: 'long-enough-1', extra: 1 }, 400, 'body'],
      ['POST', '/numbers', { number: '5551234' }, 400, 'number'],
      ['PUT', `/users/nobody/password`, { password: 'long-enough-1' }, 404, ''],
    ]
    for (const [method, path, body, status, part] of cases) {
      const res = await http(method, `${API}${path}`, { session: a, body })
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`).toBe(
        status,
      )
      if (part) expect(errorOf(res.body).variables[0], `${method} ${path}`).toBe(part)
    }
    await http('POST', `${API}/numbers`, { session: a, body: { number: '+15559990000' } })
    const dup = await http('POST', `${API}/numbers`, { session: a, body: { number: '+15559990000' } })
    expect(dup.status).toBe(409)
    expect(errorOf(dup.body)).toMatchObject({
      messageId: 'SVC0003',
      variables: ['number', expect.any(String)],
    })
    for (const query of [
      'outcome=lost',
      'limit=0',
      'limit=abc',
      'from=yesterday',
      'cursor=%21%21',
      'colour=red',
    ]) {
      const res = await http('GET', `${API}/calls?${query}`, { session: a })
      expect(res.status, `${query}: ${JSON.stringify(res.body)}`).toBe(400)
      expect(errorOf(res.body).messageId).toBe('SVC0002')
    }
    const notJson = await fetch(`${p!.url}${API}/users`, {
      method: 'POST',
      headers: { cookie: a.cookie, 'x-parley-csrf': a.csrf, 'content-type': 'application/json' },
      body: '{not json',
    })
    expect(notJson.status).toBe(400)
  })
})

describe('live calls, history and quality timeline', () => {
  it('A sees its live call with the latest quality, then in history with the timeline; B sees neither; the operator both', async () => {
    await platform()
    const alice = await p!.subscribed('alice')
    const bob = await p!.subscribed('bob')
    const { legId: la } = await alice.call('bob@example.com')
    const { legId: lb } = await bob.invitation()
    expect((await bob.answer(lb)).status).toBe(204)
    const sample = (n: number, mos: number) => ({
      timestamp: Date.now() + n,
      rtt: 3 + n,
      mos,
      audioIn: { bitrate: 30 + n, packetLoss: 0 },
    })
    expect(
      (
        await alice.request('POST', `/parley/v1/alice/sessions/${la}/quality`, {
          samples: [sample(1, 4.4), sample(2, 4.2)],
        })
      ).status,
    ).toBe(204)
    expect(
      (await bob.request('POST', `/parley/v1/bob/sessions/${lb}/quality`, { samples: [sample(1, 4.3)] }))
        .status,
    ).toBe(204)

    const a = await signIn('adminA')
    const b = await signIn('adminB')
    const op = await signIn('operator')
    type Live = {
      calls: {
        id: string
        caller: string
        callee: string
        state: string
        outcome: string
        quality: { username: string; sample: { mos: number } | null }[]
      }[]
    }
    const live = await http<Live>('GET', `${API}/calls/live`, { session: a })
    expect(live.status).toBe(200)
    expect(live.body.calls).toHaveLength(1)
    const [call] = live.body.calls
    expect(call).toMatchObject({ caller: 'alice', callee: 'bob', state: 'connected', outcome: 'active' })
    const mosOf = (name: string) => call!.quality.find((q) => q.username === name)?.sample?.mos
    expect(mosOf('alice')).toBe(4.2)
    expect(mosOf('bob')).toBe(4.3)
    expect((await http<Live>('GET', `${API}/calls/live`, { session: b })).body.calls).toEqual([])
    expect(
      (await http<Live>('GET', `${API}/calls/live`, { session: op })).body.calls.map((c) => c.id),
    ).toEqual([call!.id])
    const health = await http<{
      status: string
      activeCalls: number
      connectedSockets: number
      checks: Record<string, string>
    }>('GET', `${API}/health`, { session: a })
    expect(health.body).toMatchObject({ status: 'ok', activeCalls: 1, checks: { store: 'ok', bus: 'ok' } })
    expect(health.body.connectedSockets).toBeGreaterThanOrEqual(2)
    expect(
      (await http<{ activeCalls: number }>('GET', `${API}/health`, { session: b })).body.activeCalls,
    ).toBe(0)

    expect((await alice.end(la)).status).toBe(204)
    type History = { calls: { id: string; outcome: string; endedAt: string | null }[]; next: string | null }
    const history = await http<History>('GET', `${API}/calls?outcome=answered&user=bob`, { session: a })
    expect(history.body.calls.map((c) => c.id)).toEqual([call!.id])
    expect(history.body.calls[0]!.endedAt).not.toBeNull()
    expect(
      (await http<History>('GET', `${API}/calls?outcome=unanswered`, { session: a })).body.calls,
    ).toEqual([])
    expect((await http<History>('GET', `${API}/calls`, { session: b })).body.calls).toEqual([])
    expect(
      (await http<History>('GET', `${API}/calls`, { session: op })).body.calls.map((c) => c.id),
    ).toContain(call!.id)
    const future = new Date(Date.now() + 60_000).toISOString()
    expect((await http<History>('GET', `${API}/calls?from=${future}`, { session: a })).body.calls).toEqual([])

    const detail = await http<{
      call: { id: string }
      legs: unknown[]
      samples: { username: string; mos: number }[]
    }>('GET', `${API}/calls/${call!.id}`, { session: a })
    expect(detail.status).toBe(200)
    expect(detail.body.legs).toHaveLength(2)
    expect(detail.body.samples.map((s) => [s.username, s.mos])).toEqual(
      expect.arrayContaining([
        ['alice', 4.4],
        ['alice', 4.2],
        ['bob', 4.3],
      ]),
    )
    expect((await http('GET', `${API}/calls/${call!.id}`, { session: b })).status).toBe(404)
    expect((await http('GET', `${API}/calls/${call!.id}`, { session: op })).status).toBe(200)
  })

  it('history pages with a cursor, newest first', async () => {
    await platform()
    const alice = await p!.subscribed('alice')
    const bob = await p!.subscribed('bob')
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const { legId } = await alice.call('bob@example.com')
      await bob.invitation()
      expect((await alice.end(legId)).status).toBe(204)
      ids.push(legId)
    }
    const a = await signIn('adminA')
    type History = { calls: { id: string; outcome: string }[]; next: string | null }
    const first = await http<History>('GET', `${API}/calls?limit=2`, { session: a })
    expect(first.body.calls).toHaveLength(2)
    expect(first.body.next).toEqual(expect.any(String))
    const second = await http<History>('GET', `${API}/calls?limit=2&cursor=${first.body.next}`, {
      session: a,
    })
    expect(second.body.calls).toHaveLength(1)
    expect(second.body.next).toBeNull()
    const all = [...first.body.calls, ...second.body.calls]
    expect(new Set(all.map((c) => c.id)).size).toBe(3)
    expect(all.every((c) => c.outcome === 'unanswered')).toBe(true)
  })
})
