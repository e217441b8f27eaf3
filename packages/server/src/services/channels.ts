import {
  channelCallbackUrl,
  channelIdFromCallbackUrl,
  channelResourceUrl,
  channelSocketUrl,
  subscriptionResourceUrl,
  type ChannelResponse,
  type SubscriptionResponse,
} from '@parley/protocol'
import type { Channel } from '../store/types.js'
import type { ServiceContext } from './context.js'
import { forbidAnonymous } from './anonymous.js'
import { apiError } from './errors.js'
import { newId } from './ids.js'
import type { Notifier } from './notifier.js'
import type { SessionService } from './sessions.js'
import type { Actor, TokenService } from './tokens.js'

/** Default `channelLifetime` when the request has none (protocol §5.1: the quickstart never sends it). */
export const DEFAULT_CHANNEL_LIFETIME = 3600

/** Outcome of a websocket upgrade check (protocol §5.3, §13.3). */
export type SocketAuthorization =
  | { ok: true; channel: Channel; tokenExpired: boolean }
  | { ok: false; status: 401 | 403 | 404; reason: string }

/**
 * Notification channels and call subscriptions (protocol §5, §6): create, bind, remove, expire.
 */
export class ChannelService {
  readonly #ctx: ServiceContext
  readonly #tokens: TokenService
  readonly #sessions: SessionService
  readonly #notifier: Notifier

  constructor(ctx: ServiceContext, tokens: TokenService, sessions: SessionService, notifier: Notifier) {
    this.#ctx = ctx
    this.#tokens = tokens
    this.#sessions = sessions
    this.#notifier = notifier
  }

  /** `POST …/channels` (§5.1). */
  async create(
    actor: Actor,
    input: { lifetime?: number; correlator?: string; connCheckRole?: 'client' | 'server' },
  ): Promise<ChannelResponse> {
    const now = this.#ctx.clock.now()
    const channel: Channel = {
      id: newId('channel'),
      userId: actor.userId,
      accountId: actor.accountId,
      username: actor.username,
      correlator: input.correlator ?? null,
      lifetime: input.lifetime ?? DEFAULT_CHANNEL_LIFETIME,
      connCheckRole: input.connCheckRole ?? 'client',
      createdAt: now,
      lastActiveAt: now,
      everConnected: false,
    }
    await this.#ctx.store.createChannel(channel)
    return {
      notificationChannel: {
        callbackURL: channelCallbackUrl(actor.username, channel.id),
        channelData: { channelURL: channelSocketUrl(actor.username, channel.id) },
        channelLifetime: channel.lifetime,
        // §5.1 MUST: exactly "websockets", whatever the request said; otherwise unsubscribe never completes.
        channelType: 'websockets',
        ...(input.correlator !== undefined ? { clientCorrelator: input.correlator } : {}),
        resourceURL: channelResourceUrl(actor.username, channel.id),
      },
    }
  }

  /** `DELETE …/channels/{id}` (§5.2): 204 even for an unknown channel; another user's channel is left alone. */
  async remove(actor: Actor, channelId: string): Promise<void> {
    const channel = await this.#ctx.store.getChannel(channelId)
    if (!channel || channel.userId !== actor.userId) return
    await this.#removeChannel(channel)
  }

  /** `PUT {channel}/channelLifetime` (§14.3): records the new idle lifetime. */
  async setLifetime(
    actor: Actor,
    channelId: string,
    lifetime: number,
  ): Promise<{ notificationChannelLifetime: { channelLifetime: number } }> {
    // An anonymous identity's channel lives no longer than its identity (issue 15).
    forbidAnonymous(actor)
    const channel = await this.#ctx.store.getChannel(channelId)
    if (!channel || channel.userId !== actor.userId) throw apiError('UNKNOWN_RESOURCE')
    await this.#ctx.store.setChannelLifetime(channelId, lifetime)
    await this.#ctx.store.touchChannels([channelId], this.#ctx.clock.now(), false)
    return { notificationChannelLifetime: { channelLifetime: lifetime } }
  }

  /**
   * Checks a websocket upgrade (§5.3), in order: the channel exists (404); the token is validly signed and its
   * subject owns the channel (401/403); an expired token is accepted for an existing channel of its subject.
   */
  async authorizeSocket(
    pathUsername: string,
    channelId: string,
    token: string | undefined,
  ): Promise<SocketAuthorization> {
    const channel = await this.#ctx.store.getChannel(channelId)
    if (!channel || channel.username !== pathUsername)
      return { ok: false, status: 404, reason: 'unknown channel' }
    const check = await this.#tokens.verifyAccess(token, true)
    if (!check.ok) return { ok: false, status: 401, reason: `token ${check.reason}` }
    if (check.actor.userId !== channel.userId)
      return { ok: false, status: 403, reason: 'channel of another user' }
    return { ok: true, channel, tokenExpired: check.expired }
  }

  /** `POST …/subscriptions` (§6.2): binds the user's call service to the channel named by `notifyURL`. */
  async subscribe(
    actor: Actor,
    input: { notifyURL: string; correlator?: string },
  ): Promise<SubscriptionResponse> {
    let channel: Channel | undefined
    const id = channelIdFromCallbackUrl(input.notifyURL)
    if (id) {
      const found = await this.#ctx.store.getChannel(id)
      if (found?.userId === actor.userId) channel = found
    }
    if (!channel && input.correlator !== undefined) {
      // §6.2 fallback: the user's one channel with the same correlator.
      const same = (await this.#ctx.store.listChannelsByUser(actor.userId)).filter(
        (c) => c.correlator === input.correlator,
      )
      if (same.length === 1) channel = same[0]
    }
    if (!channel) throw apiError('INVALID_INPUT', 'notifyURL')
    let sub = await this.#ctx.store.getSubscriptionByChannel(channel.id)
    if (!sub) {
      sub = {
        id: newId('subscription'),
        channelId: channel.id,
        userId: actor.userId,
        correlator: input.correlator ?? null,
        createdAt: this.#ctx.clock.now(),
      }
      await this.#ctx.store.createSubscription(sub)
    }
    return {
      wrtcsNotificationSubscription: {
        callbackReference: { notifyURL: input.notifyURL },
        ...(input.correlator !== undefined ? { clientCorrelator: input.correlator } : {}),
        resourceURL: subscriptionResourceUrl(actor.username, sub.id),
      },
    }
  }

  /** `DELETE …/subscriptions/{id}` (§6.3). */
  async unsubscribe(actor: Actor, subscriptionId: string): Promise<void> {
    const sub = await this.#ctx.store.getSubscription(subscriptionId)
    if (!sub || sub.userId !== actor.userId) throw apiError('NO_SUCH_SUBSCRIPTION')
    await this.#ctx.store.deleteSubscription(subscriptionId)
  }

  /** Removes channels idle past their lifetime (§5.8). Returns how many went. */
  async collectExpired(): Promise<number> {
    const t = this.#ctx.config.timings
    const expired = await this.#ctx.store.listExpiredChannels(
      this.#ctx.clock.now(),
      t.channelMinIdleMs,
      t.channelNeverConnectedMs,
    )
    for (const channel of expired) {
      this.#ctx.log.info({ channelId: channel.id, username: channel.username }, 'channel expired')
      await this.#removeChannel(channel)
    }
    return expired.length
  }

  async #removeChannel(channel: Channel): Promise<void> {
    // §11.14: its unanswered callee legs are cancelled before the channel and its queue go.
    await this.#sessions.channelRemoved(channel)
    await this.#ctx.store.deleteChannel(channel.id)
    await this.#notifier.closeChannel(channel.id)
  }
}
