/**
 * The user's tokens (sdk-api §2.7–2.9, protocol.md §3.2–3.3). Only the id token is decoded; the
 * access token is opaque and sent as `Authorization: Bearer …` and as the websocket's
 * `access_token` query parameter.
 */
export interface Tokens {
  accessToken: string
  idToken: string
  /** `preferred_username`, falling back to `sub`: the `{username}` of every URL. */
  username: string
  /** `services-identity` (`user@domain`), when the id token has it. */
  identity: string | undefined
}

/** Decodes a JWT's payload (base64url JSON) without checking its signature (protocol.md §3.2). */
export function decodeJwtPayload(jwt: string): Record<string, unknown> | undefined {
  const part = jwt.split('.')[1]
  if (!part) return undefined
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (part.length % 4)) % 4)
    const binary = atob(b64)
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0))
    const json: unknown = JSON.parse(new TextDecoder().decode(bytes))
    return typeof json === 'object' && json !== null && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** Builds Tokens from the pair given to `setTokens`, or undefined when the id token is unusable. */
export function readTokens(accessToken: unknown, idToken: unknown): Tokens | undefined {
  if (typeof accessToken !== 'string' || typeof idToken !== 'string' || !accessToken) return undefined
  const claims = decodeJwtPayload(idToken)
  if (!claims) return undefined
  const username = typeof claims.preferred_username === 'string' ? claims.preferred_username : claims.sub
  if (typeof username !== 'string' || !username) return undefined
  const identity = typeof claims['services-identity'] === 'string' ? claims['services-identity'] : undefined
  return { accessToken, idToken, username, identity }
}
