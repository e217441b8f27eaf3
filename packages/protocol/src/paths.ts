/**
 * URL shapes of the CPaaS wire protocol (protocol.md §2, §5.1, §6.2, §8.1).
 * Ids are opaque to clients but MUST be URL-safe, contain no `/`, and leg ids no `sessions/` (§2.4).
 */

/** The only API version Parley serves (§2.2). */
export const API_VERSION = 'v1'

/** `preferred_username` alphabet (§2.4): URL-safe, inserted into paths unencoded. */
export const USERNAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/

/** True when `name` can be a `preferred_username` (§2.4: URL-safe, not ending in `sessions`). */
export function isValidUsername(name: string): boolean {
  return USERNAME_PATTERN.test(name) && !name.endsWith('sessions')
}

/** Id prefixes (Parley's choice, §2.4). */
export const ID_PREFIX = { channel: 'ch-', subscription: 'sub-', leg: 'leg-', call: 'call-' } as const

/** Ids that the server issues: prefix plus lowercase hex. */
export const ID_PATTERN = /^(ch|sub|leg|call)-[0-9a-f]{8,64}$/

const ncBase = (username: string) => `/cpaas/notificationchannel/${API_VERSION}/${username}`
const wsBase = (username: string) => `/cpaas/webrtcsignaling/${API_VERSION}/${username}`

/** `notificationChannel.resourceURL` (§5.1). */
export const channelResourceUrl = (username: string, channelId: string) =>
  `${ncBase(username)}/channels/${channelId}`
/** `channelData.channelURL`: the websocket path, absolute and without query (§2.3). */
export const channelSocketUrl = (username: string, channelId: string) =>
  `${channelResourceUrl(username, channelId)}/websocket`
/** `callbackURL`: an opaque token unique per channel, echoed back as `notifyURL` (§5.1, §6.2). */
export const channelCallbackUrl = (username: string, channelId: string) =>
  `${channelResourceUrl(username, channelId)}/callback`
/** `wrtcsNotificationSubscription.resourceURL` (§6.2). */
export const subscriptionResourceUrl = (username: string, subscriptionId: string) =>
  `${wsBase(username)}/subscriptions/${subscriptionId}`
/** `wrtcsSession.resourceURL` and notification `link[0].href` (§8.1, §9.0). */
export const sessionResourceUrl = (username: string, legId: string) => `${wsBase(username)}/sessions/${legId}`

/** Matches a websocket upgrade path: groups `username`, `channelId`. */
export const CHANNEL_SOCKET_PATH = /^\/cpaas\/notificationchannel\/v1\/([^/]+)\/channels\/([^/]+)\/websocket$/

/** Parses a `callbackURL` back into its channel id, or undefined. */
export function channelIdFromCallbackUrl(url: string): string | undefined {
  const m = /\/channels\/([^/]+)\/callback$/.exec(url)
  return m?.[1]
}

/** The text after the first `sessions/`, as Kandy clients cut leg ids out of URLs (§2.4, §9.0). */
export function legIdFromUrl(url: string): string | undefined {
  const i = url.indexOf('sessions/')
  return i < 0 ? undefined : url.slice(i + 'sessions/'.length)
}

/** The text after `/channels/` (the client's way to read a channel id, §5.1). */
export function channelIdFromResourceUrl(url: string): string | undefined {
  const i = url.indexOf('/channels/')
  return i < 0 ? undefined : url.slice(i + '/channels/'.length).split('/')[0]
}

/** The text after `/subscriptions/` (§6.2). */
export function subscriptionIdFromResourceUrl(url: string): string | undefined {
  const i = url.indexOf('/subscriptions/')
  return i < 0 ? undefined : url.slice(i + '/subscriptions/'.length)
}
