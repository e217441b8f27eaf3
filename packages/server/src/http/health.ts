import type { FastifyInstance } from 'fastify'
import type { ServiceContext } from '../services/context.js'

/** How long one readiness check may take before it counts as failed. */
export const READY_CHECK_TIMEOUT_MS = 1_000

/** Resolves to "ok" or "error: …" for one dependency, never rejecting and never taking longer than the timeout. */
async function check(probe: () => Promise<void>, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`error: no answer within ${timeoutMs} ms`), timeoutMs)
  })
  try {
    return await Promise.race([
      probe().then(
        () => 'ok',
        (err: unknown) => `error: ${err instanceof Error ? err.message : String(err)}`,
      ),
      timeout,
    ])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * `GET /healthz` (the process serves) and `GET /readyz` (the store and the bus answer, and the media gateway
 * when one is configured): no auth, cheap, for load balancers and orchestrators. 503 names each dependency
 * that failed.
 */
export function healthRoutes(
  app: FastifyInstance,
  ctx: Pick<ServiceContext, 'store' | 'bus' | 'mediaGateway'>,
  timeoutMs = READY_CHECK_TIMEOUT_MS,
): void {
  app.get('/healthz', async (_request, reply) =>
    reply.header('Cache-Control', 'no-store').send({ status: 'ok' }),
  )
  app.get('/readyz', async (_request, reply) => {
    const gateway = ctx.mediaGateway
    const [store, bus, rtpengine] = await Promise.all([
      check(() => ctx.store.ping(), timeoutMs),
      check(() => ctx.bus.ping(), timeoutMs),
      gateway ? check(() => gateway.ping(), timeoutMs) : undefined,
    ])
    const ok = store === 'ok' && bus === 'ok' && (rtpengine === undefined || rtpengine === 'ok')
    const checks = rtpengine === undefined ? { store, bus } : { store, bus, rtpengine }
    return reply
      .code(ok ? 200 : 503)
      .header('Cache-Control', 'no-store')
      .send({ status: ok ? 'ok' : 'unavailable', checks })
  })
}
