import { describe, expect, it } from 'vitest'
import { cloneConfig, defaultConfig, mergeConfig, type ConfigMeta } from './config.js'

const merged = (input: unknown) => {
  const warnings: string[] = []
  const cfg = defaultConfig()
  const meta: ConfigMeta = { portExplicit: false }
  mergeConfig(cfg, input, (m) => warnings.push(m), meta)
  return { cfg, warnings, meta }
}

describe('config defaults (sdk-api §1)', () => {
  it('has the documented defaults', () => {
    const c = defaultConfig()
    expect(c.authentication.server).toEqual({ protocol: 'https', port: 443, version: 'v1' })
    expect(c.call).toMatchObject({
      defaultPeerConfig: { sdpSemantics: 'unified-plan', iceServers: [] },
      serverTurnCredentials: true,
      iceCollectionIdealTimeout: 1000,
      iceCollectionMaxTimeout: 3000,
      iceCollectionDelay: 1000,
      maxIceTimeout: 3000,
      sdpHandlers: [],
      removeH264Codecs: true,
      removeBundling: false,
      mediaBrokerOnly: false,
      ringingFeedbackMode: 'auto',
      callAuditTimer: 25000,
      mediaConnectionRetryDelay: 3000,
      autoRemoveEndedTracks: false,
      prepareAnswerMedia: true,
    })
    expect(c.connectivity).toEqual({
      method: { type: 'pingPong', responsibleParty: 'client' },
      pingInterval: 30000,
      reconnectLimit: 5,
      reconnectDelay: 5000,
      reconnectTimeMultiplier: 1,
      reconnectTimeLimit: 640000,
      autoReconnect: true,
      maxMissedPings: 3,
      checkConnectivity: true,
    })
    expect(c.subscription).toEqual({ channelLifetime: 3600, timeout: 20 })
    expect(c.notifications).toEqual({ idCacheLength: 100 })
    expect(c.logs).toMatchObject({ logLevel: 'debug', logActions: false, enableFcsLogs: true })
  })
})

describe('config merging and normalisation', () => {
  it('moves the seed form call.iceServers into defaultPeerConfig (4.x/5.x)', () => {
    const servers = [{ urls: 'turn:a' }, { url: 'stun:b' }]
    const { cfg, warnings } = merged({ call: { iceServers: servers, serverTurnCredentials: true } })
    expect(cfg.call.defaultPeerConfig.iceServers).toEqual([{ urls: 'turn:a' }, { urls: 'stun:b' }])
    expect('iceServers' in cfg.call).toBe(false)
    expect(warnings).toEqual([])
  })

  it('defaultPeerConfig.iceServers wins over call.iceServers, with a warning', () => {
    const { cfg, warnings } = merged({
      call: { iceServers: [{ urls: 'stun:old' }], defaultPeerConfig: { iceServers: [{ urls: 'stun:new' }] } },
    })
    expect(cfg.call.defaultPeerConfig.iceServers).toEqual([{ urls: 'stun:new' }])
    expect(warnings.some((w) => w.includes('call.iceServers'))).toBe(true)
  })

  it('invalid and unknown values are warned about and the default kept', () => {
    const { cfg, warnings } = merged({
      call: { ringingFeedbackMode: 'sometimes', callAuditTimer: -1 },
      connectivity: { pingInterval: 'often' },
      bogus: 1,
    })
    expect(cfg.call.ringingFeedbackMode).toBe('auto')
    expect(cfg.call.callAuditTimer).toBe(25000)
    expect(cfg.connectivity.pingInterval).toBe(30000)
    expect(warnings).toHaveLength(4)
    expect(warnings.join('\n')).toContain('call.ringingFeedbackMode')
    expect(warnings.join('\n')).toContain('bogus')
  })

  it('accepts a numeric-string port and records that it was explicit', () => {
    const { cfg, meta } = merged({ authentication: { server: { base: 'h', port: '8443' } } })
    expect(cfg.authentication.server.port).toBe(8443)
    expect(meta.portExplicit).toBe(true)
    expect(merged({ authentication: { server: { base: 'h:8443' } } }).meta.portExplicit).toBe(false)
  })

  it('objects merge key by key; arrays replace', () => {
    const { cfg } = merged({
      call: { defaultPeerConfig: { iceServers: [{ urls: 'stun:a' }, { urls: 'stun:b' }] } },
    })
    mergeConfig(
      cfg,
      { call: { defaultPeerConfig: { iceServers: [{ urls: 'stun:c' }], bundlePolicy: 'max-bundle' } } },
      () => undefined,
    )
    expect(cfg.call.defaultPeerConfig).toMatchObject({
      iceServers: [{ urls: 'stun:c' }],
      bundlePolicy: 'max-bundle',
      sdpSemantics: 'unified-plan',
    })
    mergeConfig(cfg, { connectivity: { method: { type: 'keepAlive' } } }, () => undefined)
    expect(cfg.connectivity.method).toEqual({ type: 'keepAlive', responsibleParty: 'client' })
  })

  it('legacy ICE names: maxIceTimeout feeds iceCollectionMaxTimeout; aliases accepted', () => {
    expect(merged({ call: { maxIceTimeout: 5000 } }).cfg.call.iceCollectionMaxTimeout).toBe(5000)
    expect(
      merged({ call: { maxIceTimeout: 5000, iceCollectionMaxTimeout: 2000 } }).cfg.call
        .iceCollectionMaxTimeout,
    ).toBe(2000)
    const { cfg } = merged({ call: { idealIceCollectionTimeout: 500, maxIceCollectionTimeout: 900 } })
    expect(cfg.call.iceCollectionIdealTimeout).toBe(500)
    expect(cfg.call.iceCollectionMaxTimeout).toBe(900)
  })

  it('log level is case-insensitive; plan-b is accepted with a warning', () => {
    expect(merged({ logs: { logLevel: 'DEBUG' } }).cfg.logs.logLevel).toBe('debug')
    const { cfg, warnings } = merged({ call: { sdpSemantics: 'plan-b' } })
    expect(cfg.call.defaultPeerConfig.sdpSemantics).toBe('plan-b')
    expect(warnings.some((w) => w.includes('plan-b'))).toBe(true)
  })

  it('unknown RTCConfiguration keys pass through defaultPeerConfig', () => {
    const { cfg, warnings } = merged({ call: { defaultPeerConfig: { someFutureKey: 1 } } })
    expect(cfg.call.defaultPeerConfig.someFutureKey).toBe(1)
    expect(warnings).toEqual([])
  })

  it('cloneConfig gives a deep copy', () => {
    const { cfg } = merged({ call: { iceServers: [{ urls: 'stun:a' }] } })
    const copy = cloneConfig(cfg)
    copy.call.defaultPeerConfig.iceServers.push({ urls: 'stun:x' })
    expect(cfg.call.defaultPeerConfig.iceServers).toHaveLength(1)
  })
})
