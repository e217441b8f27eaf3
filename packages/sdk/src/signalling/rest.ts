/**
 * The REST client (protocol.md §4): JSON bodies, Bearer token, error bodies turned into SdkError
 * with the server's `messageId` as code and the formatted `text` as message (§4.4).
 */
import { formatServiceException, readRequestError } from '@parley/protocol/errors'
import { SdkError, basicError, type BasicError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

export interface RestDeps {
  fetch: FetchLike
  /** `{protocol}://{host}:{port}`, read at each request so config updates apply. */
  origin: () => string
  /** The current access token (sdk-api §2.8: later requests use the newest one). */
  accessToken: () => string | undefined
  /** Called on 401/403, in addition to the failing operation's own error (sdk-api §2.12). */
  onAuthError: (error: BasicError) => void
  agent: string
  log: Logger
}

export interface RestOptions {
  /** Lets the request outlive the page (used for the goodbye DELETEs, protocol.md §14.7). */
  keepalive?: boolean
  /**
   * Resolve with `{}` on success without reading the reply body, for replies nobody reads (a status
   * request's echo of the state): reading it costs the page a task or two at the moment the reply arrives.
   */
  discardBody?: boolean
}

export class RestClient {
  readonly #deps: RestDeps

  constructor(deps: RestDeps) {
    this.#deps = deps
  }

  /**
   * Sends one request. Resolves with the parsed JSON body (`{}` for 204 and DELETE replies, which
   * are never read, §4.3); rejects with SdkError on network failures (`FETCH`) and non-2xx replies.
   * `path` may be absolute (`/cpaas/…`) or a full URL.
   */
  async request<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    options: RestOptions = {},
  ): Promise<T> {
    const url = /^https?:\/\//.test(path) ? path : `${this.#deps.origin()}${path}`
    const headers: Record<string, string> = {
      // §4.1: JSON content type on every request, body-less DELETEs included.
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'X-Cpaas-Agent': this.#deps.agent,
    }
    const token = this.#deps.accessToken()
    if (token) headers.Authorization = `Bearer ${token}`
    const init: RequestInit = { method, headers, credentials: 'same-origin' }
    if (body !== undefined) init.body = JSON.stringify(body)
    if (options.keepalive) init.keepalive = true
    this.#deps.log.debug(`${method} ${url}`)
    let res: Response
    try {
      res = await this.#deps.fetch(url, init)
    } catch (err) {
      const name = err instanceof Error ? err.name : 'Error'
      const message = err instanceof Error ? err.message : String(err)
      throw new SdkError('FETCH', `${name}: ${message || 'network request failed'}`)
    }
    if (res.status >= 200 && res.status < 300) {
      if (res.status === 204 || method === 'DELETE' || options.discardBody) return {} as T
      try {
        return (await res.json()) as T
      } catch {
        throw new SdkError(
          'FETCH',
          `Invalid JSON in the ${res.status} reply to ${method} ${path}`,
          res.status,
        )
      }
    }
    let parsed: unknown
    try {
      parsed = await res.json()
    } catch {
      parsed = undefined
    }
    const ex = readRequestError(parsed)
    const error = ex
      ? new SdkError(ex.messageId, formatServiceException(ex), res.status)
      : new SdkError(String(res.status), res.statusText || `HTTP ${res.status}`, res.status)
    if (res.status === 401 || res.status === 403) {
      // protocol.md §13.4: a 401 is reported as `authentication:1`; Parley treats 403 the same way.
      this.#deps.onAuthError(basicError('authentication:1', error.message))
    }
    this.#deps.log.debug(`${method} ${url} failed: ${res.status} ${error.code} ${error.message}`)
    throw error
  }
}
