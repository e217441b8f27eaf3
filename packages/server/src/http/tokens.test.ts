import type { TokenResponse } from '@parley/protocol'
import { fetchReply, startTestPlatform, waitFor, type TestPlatform } from '@parley/test-kit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const TOKEN_PATH = '/cpaas/auth/v1/token'
const ORIGIN = 'https://app.example.org'

interface Reply {
  status: number
  headers: Headers
  text: string
  body: unknown
}

/** A request as a page's script sends it: real fetch, optional `Origin`, the body verbatim. */
async function send(
  url: string,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return fetchReply(url + path, {
    method,
    headers: init.headers ?? {},
    ...(init.body !== undefined ? { body: init.body } : {}),
  })
}

/** The token request of the Kandy quickstart: a form POST, a CORS "simple" request (§3.1). */
function tokenRequest(url: string, fields: Record<string, string>, origin: string | null = ORIGIN) {
  return send(url, 'POST', TOKEN_PATH, {
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      ...(origin !== null ? { Origin: origin } : {}),
    },
    body: new URLSearchParams(fields).toString(),
  })
}

/** The base64url JSON payload of a JWT, decoded the way Kandy clients decode the id token (§3.2). */
function jwtPayload(token: string): Record<string, unknown> {
  const parts = token.split('.')
  expect(parts, 'a JWT has three dot-separated parts').toHaveLength(3)
  for (const part of parts) expect(part).toMatch(/^[A-Za-z0-9_-]+$/) // base64url, no padding
  return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

/** An OAuth 2.0 error reply of the token endpoint (§3.1): JSON, CORS, `error` and `error_description`. */
function expectOAuthError(res: Reply, status: number, error: string, origin = ORIGIN): void {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  expect(res.headers.get('access-control-allow-origin')).toBe(origin)
  expect(res.body).toEqual({ error, error_description: expect.any(String) })
  expect(res.text).not.toMatch(/\bat .*\.(ts|js)\b|Error:/)
}

let p: TestPlatform
beforeEach(async () => {
  p = await startTestPlatform()
})
afterEach(async () => {
  await p.close()
})

const passwordGrant = (login = 'alice@example.com', password = 'alice-password-1') => ({
  client_id: p.clientId,
  username: login,
  password,
  grant_type: 'password',
  scope: 'openid',
})

describe('POST /cpaas/auth/v1/token, password grant (protocol §3.1)', () => {
  it('answers 200 JSON with access_token, id_token, token_type, numeric expires_in, refresh_token and scope', async () => {
    const res = await tokenRequest(p.url, passwordGrant())
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    const body = res.body as TokenResponse
    expect(body).toEqual({
      access_token: expect.any(String),
      id_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: p.server.ctx.config.tokenTtl,
      refresh_token: expect.any(String),
      scope: 'openid',
    })
    expect(typeof body.expires_in).toBe('number') // §3.1 MUST: the quickstart prints expires_in/60
    expect(body.access_token).not.toBe('')
    expect(body.refresh_token).not.toBe('')
  })

  it('carries Access-Control-Allow-Origin with and without an Origin header', async () => {
    const withOrigin = await tokenRequest(p.url, passwordGrant(), ORIGIN)
    expect(withOrigin.status).toBe(200)
    expect(withOrigin.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    const without = await tokenRequest(p.url, passwordGrant(), null)
    expect(without.status).toBe(200)
    expect(without.headers.get('access-control-allow-origin')).toBe('*')
  })

  it('issues an id token whose base64url payload has preferred_username, services-identity and sub', async () => {
    const body = (await tokenRequest(p.url, passwordGrant())).body as TokenResponse
    const claims = jwtPayload(body.id_token)
    expect(claims.preferred_username).toBe('alice')
    expect(claims['services-identity']).toBe('alice@example.com')
    expect(claims.sub).toBe('alice')
  })

  it('issues an access token whose subject is the username', async () => {
    const body = (await tokenRequest(p.url, passwordGrant())).body as TokenResponse
    expect(jwtPayload(body.access_token).sub).toBe('alice')
    // …and the server accepts it for that user's paths (§3.4).
    const turn = await send(p.url, 'POST', '/cpaas/webrtcsignaling/v1/alice/turn', {
      headers: { Authorization: `Bearer ${body.access_token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ wrtcsTurnCredentials: { clientCorrelator: 'sampleCorrelator' } }),
    })
    expect(turn.status).toBe(200)
  })

  it('gives a login without @ the configured domain (example.com)', async () => {
    const res = await tokenRequest(p.url, passwordGrant('alice'))
    expect(res.status).toBe(200)
    const claims = jwtPayload((res.body as TokenResponse).id_token)
    expect(claims['services-identity']).toBe('alice@example.com')
    expect(claims.preferred_username).toBe('alice')
  })
})

describe('POST /cpaas/auth/v1/token, refresh_token grant (protocol §3.1)', () => {
  it('returns new tokens for the same user, usable on REST', async () => {
    const first = (await tokenRequest(p.url, passwordGrant())).body as TokenResponse
    const res = await tokenRequest(p.url, {
      client_id: p.clientId,
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    const second = res.body as TokenResponse
    expect(second.access_token).not.toBe(first.access_token)
    expect(second.refresh_token).not.toBe(first.refresh_token)
    expect(second.expires_in).toBe(p.server.ctx.config.tokenTtl)
    expect(jwtPayload(second.id_token).preferred_username).toBe('alice')
    expect(jwtPayload(second.access_token).sub).toBe('alice')
    const turn = await send(p.url, 'POST', '/cpaas/webrtcsignaling/v1/alice/turn', {
      headers: { Authorization: `Bearer ${second.access_token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ wrtcsTurnCredentials: {} }),
    })
    expect(turn.status).toBe(200)
  })

  it('refuses a refresh token presented with another account client_id: 400 invalid_grant', async () => {
    const first = (await tokenRequest(p.url, passwordGrant())).body as TokenResponse
    const res = await tokenRequest(p.url, {
      client_id: p.otherClientId,
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
    })
    expectOAuthError(res, 400, 'invalid_grant')
  })

  it('refuses an access token or garbage as a refresh token: 400 invalid_grant', async () => {
    const first = (await tokenRequest(p.url, passwordGrant())).body as TokenResponse
    for (const token of [first.access_token, first.id_token, 'not-a-token']) {
      const res = await tokenRequest(p.url, {
        client_id: p.clientId,
        grant_type: 'refresh_token',
        refresh_token: token,
      })
      expectOAuthError(res, 400, 'invalid_grant')
    }
  })
})

describe('POST /cpaas/auth/v1/token failures: OAuth 2.0 bodies with JSON and CORS (protocol §3.1)', () => {
  it('a wrong password is 400 invalid_grant and the reply never contains the password', async () => {
    const res = await tokenRequest(p.url, passwordGrant('alice@example.com', 'Wrong-Secret-xyz'))
    expectOAuthError(res, 400, 'invalid_grant')
    expect(res.text).not.toContain('Wrong-Secret-xyz')
  })

  it('an unknown user gets the same 400 invalid_grant as a wrong password', async () => {
    const wrong = await tokenRequest(p.url, passwordGrant('alice@example.com', 'Wrong-Secret-xyz'))
    const unknown = await tokenRequest(p.url, passwordGrant('nobody@example.com', 'Wrong-Secret-xyz'))
    expectOAuthError(unknown, 400, 'invalid_grant')
    expect(unknown.body).toEqual(wrong.body) // no hint whether the login exists
  })

  it('a user of another account is refused under this client_id: 400 invalid_grant', async () => {
    const res = await tokenRequest(p.url, passwordGrant('mallory@example.com', 'mallory-password-1'))
    expectOAuthError(res, 400, 'invalid_grant')
  })

  it('an unknown client_id is 401 invalid_client', async () => {
    const res = await tokenRequest(p.url, { ...passwordGrant(), client_id: 'parley-0000000000000000' })
    expectOAuthError(res, 401, 'invalid_client')
    expect(res.text).not.toContain('alice-password-1')
  })

  it.each([
    ['username', { username: undefined }],
    ['password', { password: undefined }],
    ['grant_type', { grant_type: undefined }],
    ['client_id', { client_id: undefined }],
  ])('a request without %s is 400 invalid_request', async (_field, drop) => {
    const fields: Record<string, string> = {}
    for (const [k, v] of Object.entries({ ...passwordGrant(), ...drop })) if (v !== undefined) fields[k] = v
    const res = await tokenRequest(p.url, fields)
    expectOAuthError(res, 400, 'invalid_request')
    expect(res.text).not.toContain('alice-password-1')
  })

  it('an unsupported grant_type is 400 unsupported_grant_type', async () => {
    const res = await tokenRequest(p.url, { ...passwordGrant(), grant_type: 'authorization_code' })
    expectOAuthError(res, 400, 'unsupported_grant_type')
    expect(res.text).not.toContain('alice-password-1')
  })

  it('errors without an Origin header still carry Access-Control-Allow-Origin', async () => {
    const res = await tokenRequest(p.url, passwordGrant('alice@example.com', 'Wrong-Secret-xyz'), null)
    expectOAuthError(res, 400, 'invalid_grant', '*')
  })

  it('a JSON (or text/plain) body instead of a form is a 4xx OAuth body, not a crash and not a token', async () => {
    const fields = passwordGrant()
    const form = new URLSearchParams(fields).toString()
    const cases: [contentType: string, body: string][] = [
      ['application/json', JSON.stringify(fields)],
      ['application/json', '{"client_id":'],
      ['application/json', '[]'],
      ['application/json', '"x"'],
      ['text/plain', form],
    ]
    for (const [contentType, body] of cases) {
      const res = await send(p.url, 'POST', TOKEN_PATH, {
        headers: { 'Content-Type': contentType, Origin: ORIGIN },
        body,
      })
      expect(res.status, body).toBeGreaterThanOrEqual(400)
      expect(res.status, body).toBeLessThan(500)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      expect(res.body).toEqual({ error: expect.any(String), error_description: expect.any(String) })
      expect(res.text).not.toContain('access_token')
      expect(res.text).not.toContain('alice-password-1')
    }
    // The endpoint still works afterwards.
    expect((await tokenRequest(p.url, passwordGrant())).status).toBe(200)
  })

  it('a repeated form field is 400 invalid_request', async () => {
    const res = await send(p.url, 'POST', TOKEN_PATH, {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: ORIGIN },
      body: `${new URLSearchParams(passwordGrant()).toString()}&username=bob%40example.com`,
    })
    expectOAuthError(res, 400, 'invalid_request')
    expect(res.text).not.toContain('alice-password-1')
  })
})

describe('OPTIONS /cpaas/auth/v1/token (protocol §3.1, §4.6)', () => {
  it('answers 204 with the CORS headers and no Authorization needed', async () => {
    const res = await send(p.url, 'OPTIONS', TOKEN_PATH, {
      headers: {
        Origin: ORIGIN,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    expect(res.headers.get('access-control-allow-methods')).toContain('POST')
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type')
  })
})

describe('expired access tokens (protocol §3.4, §13.2)', () => {
  it('an access token past its expires_in gets 401 SVC0401 on REST', async () => {
    const short = await startTestPlatform({ tokenTtl: 1 })
    try {
      const res = await tokenRequest(short.url, {
        client_id: short.clientId,
        username: 'alice@example.com',
        password: short.passwords.alice!,
        grant_type: 'password',
      })
      const tokens = res.body as TokenResponse
      expect(tokens.expires_in).toBe(1)
      const turn = () =>
        send(short.url, 'POST', '/cpaas/webrtcsignaling/v1/alice/turn', {
          headers: {
            Authorization: `Bearer ${tokens.access_token}`,
            'Content-Type': 'application/json',
            Origin: ORIGIN,
          },
          body: JSON.stringify({ wrtcsTurnCredentials: { clientCorrelator: 'sampleCorrelator' } }),
        })
      const refused = await waitFor(
        async () => {
          const r = await turn()
          return r.status === 401 ? r : undefined
        },
        5000,
        'a REST request with the expired access token to be refused with 401',
      )
      expect(refused.headers.get('content-type')).toMatch(/^application\/json/)
      expect(refused.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      expect(refused.body).toEqual({
        requestError: { serviceException: { messageId: 'SVC0401', text: 'Unauthorized', variables: [] } },
      })
    } finally {
      await short.close()
    }
  })
})
