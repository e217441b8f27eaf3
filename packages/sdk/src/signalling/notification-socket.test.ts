import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defaultConfig, type ConnectivityConfig } from '../core/config.js'
import { Logger } from '../core/logger.js'
import { reconnectDelay, reconnectSchedule } from './backoff.js'
import { NotificationSocket, SOCKET_MOVES, type SocketLike, type SocketState } from './notification-socket.js'

/** A scriptable WebSocket: `open`, `message`, `drop` are driven by the test. */
class ScriptedSocket implements SocketLike {
  static all: ScriptedSocket[] = []
  static autoOpen = true
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code?: number }) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  readyState = 0
  sent: unknown[] = []
  closed = false
  readonly createdAt = Date.now()
  constructor(readonly url: string) {
    ScriptedSocket.all.push(this)
    if (ScriptedSocket.autoOpen) setTimeout(() => this.open(), 0)
    else setTimeout(() => this.fail(), 0)
  }
  open() {
    this.readyState = 1
    this.onopen?.({})
  }
  fail() {
    this.readyState = 3
    this.onerror?.({})
    this.onclose?.({ code: 1006 })
  }
  message(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }
  drop(code = 1006) {
    this.readyState = 3
    this.onclose?.({ code })
  }
  send(data: string) {
    this.sent.push(JSON.parse(data))
  }
  close() {
    this.closed = true
  }
}

const silent = new Logger(() => ({ level: 'silent', handler: () => undefined }), { type: 't', name: 't' })

function makeSocket(overrides: Partial<ConnectivityConfig> = {}, idCacheLength = 100) {
  const connectivity = { ...defaultConfig().connectivity, ...overrides }
  const socket = new NotificationSocket({
    WebSocket: ScriptedSocket,
    connectivity: () => connectivity,
    idCacheLength: () => idCacheLength,
    log: silent,
  })
  const states: SocketState[] = []
  const notes: string[] = []
  let lost = 0
  socket.events.on('state', ({ state }) => states.push(state))
  socket.events.on('notification', ({ body }) => notes.push(body.id))
  socket.events.on('lost', () => lost++)
  return { socket, states, notes, lost: () => lost, connectivity }
}

const note = (id: string) => ({ wrtcsEventNotification: { id, eventType: 'Ringing', link: [] } })

beforeEach(() => {
  vi.useFakeTimers()
  ScriptedSocket.all = []
  ScriptedSocket.autoOpen = true
})
afterEach(() => vi.useRealTimers())

describe('reconnect backoff (sdk-api §1.3)', () => {
  it('delays grow by the multiplier and are capped', () => {
    const s = { reconnectDelay: 5000, reconnectTimeMultiplier: 2, reconnectTimeLimit: 30000 }
    expect(reconnectSchedule(s, 5)).toEqual([5000, 10000, 20000, 30000, 30000])
    expect(reconnectSchedule({ ...s, reconnectTimeMultiplier: 1 }, 3)).toEqual([5000, 5000, 5000])
    expect(reconnectDelay(s, 0)).toBe(5000)
  })

  it('after a loss, reconnects on the schedule, keeps the URL factory (newest token) and gives up after the limit', async () => {
    const { socket, states, lost } = makeSocket({
      reconnectDelay: 1000,
      reconnectTimeMultiplier: 2,
      reconnectLimit: 3,
      reconnectTimeLimit: 3000,
    })
    let token = 't1'
    const opened = socket.connect(() => `wss://h:443/ws?access_token=${token}`)
    await vi.advanceTimersByTimeAsync(0)
    await opened
    expect(socket.state).toBe('connected')
    token = 't2'
    ScriptedSocket.autoOpen = false
    ScriptedSocket.all[0]!.drop()
    expect(socket.state).toBe('waiting')
    const start = Date.now()
    await vi.advanceTimersByTimeAsync(10000)
    const attemptTimes = ScriptedSocket.all.slice(1).map((w) => w.createdAt - start)
    // Attempts at +1000, then 2000 after that one failed, then 3000 (capped) after the next failure;
    // each scripted failure takes one fake-timer millisecond.
    expect(attemptTimes).toEqual([1000, 1000 + 1 + 2000, 1000 + 1 + 2000 + 1 + 3000])
    expect(ScriptedSocket.all[1]!.url).toContain('access_token=t2')
    expect(socket.state).toBe('disconnected')
    expect(lost()).toBe(1)
    expect(states).toEqual([
      'connecting',
      'connected',
      'waiting',
      'connecting',
      'waiting',
      'connecting',
      'waiting',
      'connecting',
      'disconnected',
    ])
  })

  it('a successful reconnect resets the failure count and reports connected again', async () => {
    const { socket, lost } = makeSocket({ reconnectDelay: 500 })
    const opened = socket.connect(() => 'wss://h/ws')
    await vi.advanceTimersByTimeAsync(0)
    await opened
    ScriptedSocket.all[0]!.drop(1011)
    await vi.advanceTimersByTimeAsync(510)
    expect(socket.state).toBe('connected')
    expect(ScriptedSocket.all).toHaveLength(2)
    expect(lost()).toBe(0)
  })

  it('the first connect retries and rejects when every attempt failed', async () => {
    ScriptedSocket.autoOpen = false
    const { socket } = makeSocket({ reconnectDelay: 100, reconnectLimit: 2 })
    const opened = socket.connect(() => 'wss://h/ws')
    const result = opened.then(
      () => 'open',
      () => 'rejected',
    )
    await vi.advanceTimersByTimeAsync(1000)
    expect(await result).toBe('rejected')
    expect(ScriptedSocket.all).toHaveLength(2)
  })

  it('the state table allows only the documented moves', () => {
    expect(SOCKET_MOVES.disconnected).toEqual(['connecting'])
    expect(SOCKET_MOVES.connected).not.toContain('connecting')
  })
})

describe('keepalive (protocol.md §5.4)', () => {
  it('sends connCheck at open and every interval; 3 missed connAcks declare the link lost', async () => {
    const { socket } = makeSocket({ pingInterval: 30000, reconnectDelay: 5000 })
    const opened = socket.connect(() => 'wss://h/ws')
    await vi.advanceTimersByTimeAsync(0)
    await opened
    const ws = ScriptedSocket.all[0]!
    expect(ws.sent).toEqual([{ connCheck: { interval: 30 } }])
    expect(socket.pinging).toBe(true)
    ws.message({ connAck: {} })
    expect(socket.pinging).toBe(false)
    await vi.advanceTimersByTimeAsync(30000)
    expect(ws.sent).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(60000)
    expect(socket.state).toBe('connected')
    await vi.advanceTimersByTimeAsync(30000)
    expect(socket.state).toBe('waiting')
    expect(ws.closed).toBe(true)
  })

  it('keepAlive mode sends message_type ping without expecting replies', async () => {
    const { socket } = makeSocket({
      method: { type: 'keepAlive', responsibleParty: 'client' },
      pingInterval: 1000,
    })
    const opened = socket.connect(() => 'wss://h/ws')
    await vi.advanceTimersByTimeAsync(0)
    await opened
    await vi.advanceTimersByTimeAsync(5000)
    const ws = ScriptedSocket.all[0]!
    expect(ws.sent.length).toBe(5)
    expect(ws.sent[0]).toEqual({ message_type: 'ping' })
    expect(socket.state).toBe('connected')
  })

  it('server mode answers connCheck with connAck and ignores pingInterval', async () => {
    const { socket } = makeSocket({ method: { type: 'pingPong', responsibleParty: 'server' } })
    const opened = socket.connect(() => 'wss://h/ws')
    await vi.advanceTimersByTimeAsync(0)
    await opened
    const ws = ScriptedSocket.all[0]!
    expect(ws.sent).toEqual([])
    ws.message({ connCheck: { interval: 30 } })
    expect(ws.sent).toEqual([{ connAck: {} }])
    await vi.advanceTimersByTimeAsync(89000)
    expect(socket.state).toBe('connected')
    await vi.advanceTimersByTimeAsync(2000)
    expect(socket.state).toBe('waiting')
  })
})

describe('notification de-duplication (sdk-api §1.5, protocol.md §9.0)', () => {
  it('drops an id seen among the last idCacheLength ids', async () => {
    const { socket, notes } = makeSocket({}, 3)
    const opened = socket.connect(() => 'wss://h/ws')
    await vi.advanceTimersByTimeAsync(0)
    await opened
    const ws = ScriptedSocket.all[0]!
    for (const id of ['a', 'b', 'a', 'c', 'd', 'b', 'a', 'd']) ws.message(note(id))
    // Window of 3: a b c → d evicts a… 'b' is still cached at its repeat? After a,b,c,d the cache is b,c,d.
    expect(notes).toEqual(['a', 'b', 'c', 'd', 'a'])
    ws.message({ noId: { x: 1 } })
    ws.onmessage?.({ data: 'not json' })
    expect(notes).toHaveLength(5)
  })

  it('idCacheLength 0 disables de-duplication', async () => {
    const { socket, notes } = makeSocket({}, 0)
    const opened = socket.connect(() => 'wss://h/ws')
    await vi.advanceTimersByTimeAsync(0)
    await opened
    ScriptedSocket.all[0]!.message(note('x'))
    ScriptedSocket.all[0]!.message(note('x'))
    expect(notes).toEqual(['x', 'x'])
  })
})
