/**
 * REST and websocket URLs (protocol.md §2.2, §2.3).
 *
 *   REST:      {protocol}://{base}:{port}/cpaas/{service}/{v}/{username}/…
 *   websocket: wss://{base}:{port}{channelURL}?access_token={accessToken}
 *
 * Parley extensions (documented here because the reference clients do not have them):
 * - `base` may carry a port (`'host:8443'`, `'[::1]:8443'`). When `authentication.server.port` was
 *   not set explicitly, that port is used, so a demo page can write `base: location.host`. An
 *   explicit `port` always wins and the port in `base` is dropped.
 * - A scheme or path pasted into `base` (`'https://host/…'`) is stripped.
 * - The websocket uses plain `ws://` when `authentication.server.protocol` is `'http'`
 *   (protocol.md §14.8); otherwise `wss://` as Kandy clients always do.
 */
export interface ServerSettings {
  base?: string
  protocol: 'http' | 'https'
  port: number
  version: string
}

/** Splits `base` into host and optional port. */
export function parseBase(base: string): { host: string; port: number | undefined } {
  let b = base.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
  const slash = b.indexOf('/')
  if (slash >= 0) b = b.slice(0, slash)
  const v6 = /^(\[[^\]]+\])(?::(\d+))?$/.exec(b)
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : undefined }
  const m = /^([^:]+):(\d+)$/.exec(b)
  if (m) return { host: m[1]!, port: Number(m[2]) }
  return { host: b, port: undefined }
}

function hostAndPort(server: ServerSettings, portExplicit: boolean): string {
  const { host, port } = parseBase(server.base ?? '')
  const p = !portExplicit && port !== undefined ? port : server.port
  return `${host}:${p}`
}

/** `{protocol}://{host}:{port}`: the origin of every REST request. The port is always written. */
export function restOrigin(server: ServerSettings, portExplicit: boolean): string {
  return `${server.protocol}://${hostAndPort(server, portExplicit)}`
}

/** `wss://{host}:{port}` (or `ws://` for an `http` server, §14.8). */
export function socketOrigin(server: ServerSettings, portExplicit: boolean): string {
  return `${server.protocol === 'http' ? 'ws' : 'wss'}://${hostAndPort(server, portExplicit)}`
}

/** The websocket URL of a channel: channelURL appended verbatim, `access_token` the only parameter. */
export function socketUrl(
  server: ServerSettings,
  portExplicit: boolean,
  channelURL: string,
  token: string,
): string {
  return `${socketOrigin(server, portExplicit)}${channelURL}?access_token=${encodeURIComponent(token)}`
}

/** `/cpaas/webrtcsignaling/{v}/{username}` — `…` in protocol.md. */
export const signalingPath = (version: string, username: string) =>
  `/cpaas/webrtcsignaling/${version}/${username}`

/** `/cpaas/notificationchannel/{v}/{username}/channels`. */
export const channelsPath = (version: string, username: string) =>
  `/cpaas/notificationchannel/${version}/${username}/channels`
