import { fileURLToPath } from 'node:url'
import { fetchReply, startTestPlatform, type TestPlatform } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'

const DEMO_DIR = fileURLToPath(new URL('../../../../demo/', import.meta.url))

let p: TestPlatform | undefined
afterEach(async () => {
  await p?.close()
  p = undefined
})

describe('GET /demo/anonymous', () => {
  it('serves the "Call us" page with the SDK script, its button and a same-origin CSP', async () => {
    p = await startTestPlatform({ demoDir: DEMO_DIR })
    const res = await fetchReply(`${p.url}/demo/anonymous?key=pk-1&destination=bob@example.com`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'")
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.text).toContain('<script src="/sdk/parley.js"></script>')
    expect(res.text).toContain('id="call-us"')
    expect(res.text).toContain("grant_type: 'client_credentials'")
  })

  it('is 404 in the protocol error format when the server has no demo directory', async () => {
    p = await startTestPlatform()
    const res = await fetchReply(`${p.url}/demo/anonymous`)
    expect(res.status).toBe(404)
    expect(res.body).toMatchObject({ requestError: { serviceException: { messageId: 'SVC0004' } } })
  })
})
