import type { Config } from '../config.js'

/** Characters a Host header may bring into the page (host name, IPv4/IPv6, port). */
const SAFE_HOST = /^[A-Za-z0-9.\-:[\]]{1,255}$/

/**
 * Fills the placeholders of the seed quickstart's page (demo/index.html) from the server's configuration, so that
 * the page's own origin is the Parley server: `$KANDYFQDN$` becomes the host (with port) the browser used,
 * the token URL's scheme follows the server's (the seed hard-codes `https://`), `$KANDYTURNn$`/`$KANDYSTUNn$`
 * become the configured `--turn-url`s (empty when none: the SDK skips ICE servers without a URL).
 */
export function fillDemoPage(
  template: string,
  config: Pick<Config, 'host' | 'port' | 'tls' | 'turnUrls'>,
  hostHeader: string | undefined,
): string {
  const host = hostHeader && SAFE_HOST.test(hostHeader) ? hostHeader : `${config.host}:${config.port}`
  const scheme = config.tls ? 'https' : 'http'
  const turn = config.turnUrls.filter((u) => /^turns?:/.test(u))
  const stun = config.turnUrls.filter((u) => /^stuns?:/.test(u))
  return template
    .replaceAll('https://$KANDYFQDN$', `${scheme}://${host}`)
    .replaceAll('$KANDYFQDN$', host)
    .replaceAll('$KANDYTURN1$', turn[0] ?? '')
    .replaceAll('$KANDYTURN2$', turn[1] ?? turn[0] ?? '')
    .replaceAll('$KANDYSTUN1$', stun[0] ?? '')
    .replaceAll('$KANDYSTUN2$', stun[1] ?? stun[0] ?? '')
    .replaceAll('$KANDY$', 'Parley')
}

/** What the calling app at `/` learns from the server, in its `#parley-config` JSON block. */
export interface AppPageConfig {
  /** ICE servers from `--turn-url` (TURN credentials are fetched by the SDK). */
  iceServers: { urls: string }[]
  /** With `--demo`: the demo account's client ID and user logins (never passwords). */
  demo?: { clientId: string; users: string[] }
}

/**
 * Fills the calling app's page (demo/app/index.html): its `$PARLEY_CONFIG$` placeholder, inside a
 * `<script type="application/json">` block (data, not script, so the page's CSP needs no inline script),
 * becomes the JSON of `AppPageConfig`, with `<` escaped so that no value can close the block.
 */
export function fillAppPage(
  template: string,
  config: Pick<Config, 'turnUrls'>,
  demo: { clientId: string; users: string[] } | undefined,
): string {
  const page: AppPageConfig = { iceServers: config.turnUrls.map((urls) => ({ urls })) }
  if (demo) page.demo = { clientId: demo.clientId, users: demo.users }
  const json = JSON.stringify(page)
    .replace(/</g, '\\u003c')
    .replace(/\u2028|\u2029/g, '')
  return template.replace('"$PARLEY_CONFIG$"', () => json)
}
