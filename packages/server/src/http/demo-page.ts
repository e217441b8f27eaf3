import type { Config } from '../config.js'

/** Characters a Host header may bring into the page (host name, IPv4/IPv6, port). */
const SAFE_HOST = /^[A-Za-z0-9.\-:[\]]{1,255}$/

/**
 * Fills the placeholders of the seed quickstart's page (shared/seed) from the server's configuration, so that
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
