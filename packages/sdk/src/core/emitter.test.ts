import { describe, expect, it, vi } from 'vitest'
import { Emitter } from './emitter.js'
import { EventBus } from './event-bus.js'

describe('Emitter', () => {
  it('a throwing listener does not stop the others and is reported', () => {
    const errors: string[] = []
    const e = new Emitter<{ x: { n: number } }>((event) => errors.push(event))
    const got: number[] = []
    e.on('x', () => {
      throw new Error('boom')
    })
    e.on('x', (p) => got.push(p.n))
    e.emit('x', { n: 1 })
    expect(got).toEqual([1])
    expect(errors).toEqual(['x'])
  })

  it('on returns an unsubscribe function; the same function twice fires twice', () => {
    const e = new Emitter<{ x: number }>()
    const fn = vi.fn()
    const off = e.on('x', fn)
    e.on('x', fn)
    e.emit('x', 1)
    expect(fn).toHaveBeenCalledTimes(2)
    off()
    e.emit('x', 2)
    expect(fn).toHaveBeenCalledTimes(3)
    e.off('x', fn)
    e.emit('x', 3)
    expect(fn).toHaveBeenCalledTimes(3)
    expect(e.listenerCount('x')).toBe(0)
  })
})

describe('EventBus (sdk-api §0.4, §2.5, §2.6)', () => {
  it('never calls listeners synchronously and keeps FIFO order', async () => {
    const bus = new EventBus(() => undefined)
    const got: string[] = []
    bus.on('a', () => got.push('a'))
    bus.on('b', () => got.push('b'))
    bus.emit('a', {})
    bus.emit('b', {})
    bus.emit('a', {})
    expect(got).toEqual([])
    await new Promise((r) => setTimeout(r, 5))
    expect(got).toEqual(['a', 'b', 'a'])
  })

  it('global listeners receive (type, [payload]); a throwing listener is logged and others still run', async () => {
    const errors: string[] = []
    const bus = new EventBus((event) => errors.push(event))
    const all: unknown[] = []
    bus.on('x', () => {
      throw new Error('app bug')
    })
    bus.subscribe((type, args) => all.push([type, args]))
    bus.emit('x', { v: 1 })
    bus.emit('devices:change')
    bus.flush()
    expect(all).toEqual([
      ['x', [{ v: 1 }]],
      ['devices:change', []],
    ])
    expect(errors).toEqual(['x'])
  })

  it('defer runs after the listeners of earlier events; close drops everything', () => {
    const bus = new EventBus(() => undefined)
    const order: string[] = []
    bus.on('e', () => order.push('listener'))
    bus.emit('e', {})
    bus.defer(() => order.push('deferred'))
    bus.flush()
    expect(order).toEqual(['listener', 'deferred'])
    bus.emit('e', {})
    bus.close()
    bus.flush()
    expect(order).toEqual(['listener', 'deferred'])
  })

  it('rejects non-function listeners', () => {
    const bus = new EventBus(() => undefined)
    expect(() => bus.on('x', 1 as unknown as () => void)).toThrow(Error)
    expect(() => bus.subscribe(null as unknown as () => void)).toThrow(Error)
  })
})
