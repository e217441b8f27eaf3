import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { makeConfig } from '../config.js'
import { fillAppPage, fillDemoPage } from './demo-page.js'

const template = readFileSync(new URL('../../../../demo/index.html', import.meta.url), 'utf8')

describe('fillDemoPage (the seed demo served at /quickstart)', () => {
  it('makes the page own origin the server and fills ICE servers from --turn-url', () => {
    const page = fillDemoPage(
      template,
      makeConfig({ turnUrls: ['turn:127.0.0.1:3478?transport=udp', 'stun:127.0.0.1:3478'] }),
      '127.0.0.1:9000',
    )
    expect(page).not.toMatch(/\$KANDY/)
    expect(page).toContain("base: '127.0.0.1:9000'")
    expect(page).toContain("const cpaasAuthUrl = 'http://127.0.0.1:9000/cpaas/auth/v1/token'")
    expect(page).toContain("{ urls: 'turn:127.0.0.1:3478?transport=udp' }")
    expect(page).toContain("{ urls: 'stun:127.0.0.1:3478' }")
    expect(page).toContain('<script src="/sdk/parley.js"></script>')
  })

  it('uses https with TLS, leaves unconfigured ICE servers empty, and ignores an unsafe Host header', () => {
    const page = fillDemoPage(
      template,
      makeConfig({ tls: 'self-signed', host: '127.0.0.1', port: 8443 }),
      "evil'host",
    )
    expect(page).toContain("const cpaasAuthUrl = 'https://127.0.0.1:8443/cpaas/auth/v1/token'")
    expect(page).toContain("{ urls: '' }")
    expect(page).not.toContain('evil')
  })

  it('changes nothing of the seed but the script tag and the placeholders', () => {
    const seedScript = template.slice(template.lastIndexOf('<script>'))
    const filled = fillDemoPage(template, makeConfig(), 'h:1')
    expect(
      filled
        .slice(filled.lastIndexOf('<script>'))
        .replace(/'(h:1|http:\/\/h:1)/g, "'X")
        .replace(/urls: ''/g, 'urls: X'),
    ).toBe(
      seedScript
        .replace(/'(\$KANDYFQDN\$|https:\/\/\$KANDYFQDN\$)/g, "'X")
        .replace(/urls: '\$KANDY(TURN|STUN)\d\$'/g, 'urls: X')
        .replace('$KANDY$', 'Parley'),
    )
  })
})

describe('GET /quickstart, / and /sdk/ (served pages)', () => {
  it('serve the filled demo and the SDK bundles with security headers', async () => {
    const { startTestPlatform } = await import('@parley/test-kit')
    const { fileURLToPath } = await import('node:url')
    const p = await startTestPlatform({
      demoDir: fileURLToPath(new URL('../../../../demo/', import.meta.url)),
      sdkDir: fileURLToPath(new URL('../../../sdk/dist/', import.meta.url)),
    })
    try {
      const page = await fetch(`${p.url}/quickstart`)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toMatch(/^text\/html/)
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'")
      expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
      expect(page.headers.get('x-content-type-options')).toBe('nosniff')
      expect(page.headers.get('x-frame-options')).toBe('DENY')
      expect(page.headers.get('referrer-policy')).toBe('no-referrer')
      expect(await page.text()).toContain(`base: '${new URL(p.url).host}'`)
      const sdk = await fetch(`${p.url}/sdk/parley.min.js`)
      expect(sdk.status).toBe(200)
      expect(sdk.headers.get('content-type')).toMatch(/^text\/javascript/)
      expect(await sdk.text()).toContain('Kandy')
      expect((await fetch(`${p.url}/sdk/../package.json`)).status).toBe(404)
      const app = await fetch(`${p.url}/`)
      expect(app.status).toBe(200)
      expect(app.headers.get('content-security-policy')).toContain("script-src 'self';")
      expect(app.headers.get('content-security-policy')).not.toContain('unsafe-inline')
      const html = await app.text()
      expect(html).toContain('<script src="/sdk/parley.js" defer></script>')
      // Without --demo the page learns no client ID.
      expect(html).not.toContain(p.clientId)
      expect(html).not.toContain('"demo"')
      for (const f of ['app.js', 'app.css']) expect((await fetch(`${p.url}/app/${f}`)).status).toBe(200)
    } finally {
      await p.close()
    }
  })
})

describe('the calling app at / with --demo', () => {
  it('is filled with the demo client ID and user logins, never a password', async () => {
    const { startTestPlatform } = await import('@parley/test-kit')
    const { fileURLToPath } = await import('node:url')
    const p = await startTestPlatform({
      demo: true,
      demoDir: fileURLToPath(new URL('../../../../demo/', import.meta.url)),
    })
    try {
      const demo = p.server.demo!
      const html = await (await fetch(`${p.url}/`)).text()
      const json = /<script id="parley-config" type="application\/json">(.*?)<\/script>/s.exec(html)![1]!
      expect(JSON.parse(json).demo).toEqual({
        clientId: demo.clientId,
        users: ['alice@example.com', 'bob@example.com'],
      })
      for (const u of demo.users) expect(html).not.toContain(u.password)
    } finally {
      await p.close()
    }
  })

  it('fillAppPage escapes < so that no value closes the JSON block', () => {
    const page = fillAppPage('<script type="application/json">"$PARLEY_CONFIG$"</script>', makeConfig(), {
      clientId: '</script><b>',
      users: [],
    })
    expect(page).not.toContain('</script><b>')
    expect(page).toContain('\\u003c/script>')
  })
})
