/** The `media` argument of make/answer (sdk-api §5.3 `CallMedia`) turned into getUserMedia constraints. */
export interface MediaRequest {
  audio: boolean
  video: boolean
  screen: boolean
  audioOptions?: Record<string, unknown>
  videoOptions?: Record<string, unknown>
  screenOptions?: Record<string, unknown>
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : undefined

export function parseMediaRequest(media: unknown): MediaRequest {
  const m = obj(media) ?? {}
  const req: MediaRequest = { audio: m.audio === true, video: m.video === true, screen: m.screen === true }
  const a = obj(m.audioOptions)
  const v = obj(m.videoOptions)
  const s = obj(m.screenOptions)
  if (a) req.audioOptions = a
  if (v) req.videoOptions = v
  if (s) req.screenOptions = s
  return req
}

/** A MediaConstraint (sdk-api §5.1.2) is already in getUserMedia's form; `exact` wins over `ideal`. */
function constraint(v: unknown): unknown {
  if (typeof v === 'object' && v !== null && 'exact' in v && 'ideal' in v)
    return { exact: (v as { exact: unknown }).exact }
  return v
}

function track(options: Record<string, unknown> | undefined): boolean | MediaTrackConstraints {
  if (!options || Object.keys(options).length === 0) return true
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = constraint(v)
  return out as MediaTrackConstraints
}

export function userMediaConstraints(req: MediaRequest): MediaStreamConstraints {
  return {
    audio: req.audio ? track(req.audioOptions) : false,
    video: req.video ? track(req.videoOptions) : false,
  }
}

export function displayMediaConstraints(req: MediaRequest): DisplayMediaStreamOptions {
  return { video: track(req.screenOptions), audio: false }
}
