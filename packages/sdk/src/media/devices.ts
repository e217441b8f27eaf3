/** Device lists (sdk-api §5.1.14, §6.1, §6.4). */
import { basicError, type BasicError } from '../core/errors.js'
import type { MediaEngine } from './engine.js'

export interface DeviceInfo {
  deviceId: string
  groupId: string
  kind: 'audioinput' | 'audiooutput' | 'videoinput'
  label: string
}

export interface DevicesObject {
  camera: DeviceInfo[]
  microphone: DeviceInfo[]
  speaker: DeviceInfo[]
}

export class Devices {
  readonly #engine: MediaEngine
  #lists: DevicesObject = { camera: [], microphone: [], speaker: [] }

  constructor(engine: MediaEngine) {
    this.#engine = engine
  }

  get(): DevicesObject {
    return {
      camera: [...this.#lists.camera],
      microphone: [...this.#lists.microphone],
      speaker: [...this.#lists.speaker],
    }
  }

  async refresh(): Promise<void> {
    const list = await this.#engine.enumerateDevices()
    const pick = (kind: DeviceInfo['kind']) =>
      list
        .filter((d) => d.kind === kind)
        .map((d) => ({ deviceId: d.deviceId, groupId: d.groupId, kind, label: d.label }))
    this.#lists = { camera: pick('videoinput'), microphone: pick('audioinput'), speaker: pick('audiooutput') }
  }

  /** Asks for permission, refreshes the lists and releases the devices again. */
  async initialize(audio: boolean, video: boolean): Promise<BasicError | undefined> {
    try {
      if (audio || video) {
        const stream = await this.#engine.getUserMedia({ audio, video })
        stream.getTracks().forEach((t) => t.stop())
      }
      await this.refresh()
      return undefined
    } catch (err) {
      return basicError(
        'media:2',
        err instanceof Error ? `${err.name}: ${err.message}` : 'Device access failed',
      )
    }
  }
}
