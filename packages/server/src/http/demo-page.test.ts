import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { makeConfig } from '../config.js'
import { fillDemoPage } from './demo-page.js'

const template = readFileSync(new URL('../../../../demo/index.html', import.meta.url), 'utf8')

describe('fillDemoPage (the seed demo served at /)', () => {
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
