// Parley's calling app (served at /): log in, subscribe, make and take calls with the Parley SDK.
// Plain browser JavaScript, no framework; the controls follow the call state reported by the SDK.
;(function () {
  'use strict'

  const $ = (id) => document.getElementById(id)
  const config = readConfig()
  const client = Parley.create({
    authentication: {
      server: {
        base: location.hostname,
        protocol: location.protocol === 'https:' ? 'https' : 'http',
        port: Number(location.port) || (location.protocol === 'https:' ? 443 : 80),
      },
      clientCorrelator: 'parley-app',
    },
    call: { iceServers: config.iceServers || [], serverTurnCredentials: true },
    logs: { logLevel: 'warn' },
  })
  window.parleyApp = { client }

  /** The call shown by the page, its id, and page-side flags. */
  const ui = { callId: null, user: null, subscribed: false, connectedAt: 0, timer: 0, meter: 0 }
  const ACTIVE = ['Initiating', 'Initiated', 'Ringing', 'Early Media', 'Connected', 'On Hold']

  function readConfig() {
    try {
      return JSON.parse($('parley-config').textContent) || {}
    } catch {
      return {}
    }
  }

  // ── messages ─────────────────────────────────────────────────────────────────────────────────
  function log(text) {
    const li = document.createElement('li')
    const time = new Date().toLocaleTimeString([], { hour12: false })
    li.textContent = `${time}  ${text}`
    $('log').prepend(li)
  }
  function showError(text) {
    const box = $('error')
    box.textContent = text
    box.hidden = false
    log(`Error: ${text}`)
  }
  function clearError() {
    $('error').hidden = true
    $('error').textContent = ''
  }
  function setStatus(text, tone) {
    $('status-text').textContent = text
    $('status').dataset.tone = tone || 'idle'
  }

  // ── login ────────────────────────────────────────────────────────────────────────────────────
  if (config.demo) {
    $('client-id').value = config.demo.clientId
    $('demo-hint').hidden = false
    if (config.demo.users[0]) $('username').placeholder = config.demo.users[0]
    if (config.demo.users[1]) $('callee').placeholder = config.demo.users[1]
    for (const u of config.demo.users) {
      const o = document.createElement('option')
      o.value = u
      $('known-users').append(o)
    }
  }
  ;($('client-id').value ? $('username') : $('client-id')).focus()

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault()
    clearError()
    const clientId = $('client-id').value.trim()
    const username = $('username').value.trim()
    const password = $('password').value
    if (!clientId || !username || !password) {
      showError('Enter the client ID, user and password.')
      return
    }
    $('login').disabled = true
    setStatus('Signing in…', 'busy')
    try {
      const res = await fetch('/cpaas/auth/v1/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: clientId, username, password, grant_type: 'password', scope: 'openid' }),
      })
      const data = await res.json().catch(() => ({}))
      if (!res.ok || !data.access_token || !data.id_token) {
        throw new Error(data.error_description || data.error || `The server answered ${res.status}`)
      }
      client.setTokens({ accessToken: data.access_token, idToken: data.id_token })
      ui.user = username
      log(`Signed in as ${username}`)
      setStatus('Connecting…', 'busy')
      client.services.subscribe(['call'], 'websocket')
    } catch (err) {
      showError(err instanceof TypeError ? `Network error: ${err.message}` : err.message)
      setStatus('Signed out', 'idle')
      $('login').disabled = false
    }
  })

  client.on('subscription:change', () => {
    const subs = client.services.getSubscriptions()
    if (subs.isPending) return
    const now = subs.subscribed.includes('call')
    if (now && !ui.subscribed) {
      ui.subscribed = true
      $('login-view').hidden = true
      $('call-view').hidden = false
      $('logout').hidden = false
      $('local-name').textContent = `You (${ui.user})`
      log('Ready for calls')
      $('callee').focus()
    } else if (!now && ui.subscribed) {
      ui.subscribed = false
      showError('The connection to the server was lost. Sign in again.')
    }
    render()
  })
  client.on('subscription:error', (p) => {
    showError(p.error.message)
    $('login').disabled = false
    if (!ui.subscribed) setStatus('Signed out', 'idle')
  })
  client.on('request:error', (p) => log(`Request refused: ${p.error.message}`))

  $('logout').addEventListener('click', () => {
    const c = currentCall()
    if (c && ACTIVE.includes(c.state)) client.call.end(c.id)
    client.services.unsubscribe(['call'])
    location.reload()
  })

  // ── calls ────────────────────────────────────────────────────────────────────────────────────
  function currentCall() {
    return ui.callId ? client.call.getById(ui.callId) : undefined
  }
  function peerOf(call) {
    return (call.remoteParticipant && call.remoteParticipant.displayNumber) ||
      (call.direction === 'incoming' ? call.from : call.to)
  }

  $('callee').addEventListener('input', render)
  $('dial-form').addEventListener('submit', (ev) => {
    ev.preventDefault()
    clearError()
    const to = $('callee').value.trim()
    if (!to) return
    const video = $('with-video').checked
    ui.callId = client.call.make(to, { audio: true, video })
    log(`Calling ${to}${video ? ' with video' : ''}`)
    render()
  })

  client.on('call:receive', (p) => {
    const busy = currentCall()
    if (busy && ACTIVE.includes(busy.state) && busy.id !== p.callId) {
      log('Another call came in while busy; rejected')
      client.call.reject(p.callId)
      return
    }
    clearError()
    ui.callId = p.callId
    const call = client.call.getById(p.callId)
    const video = !!(call.mediaOffered && call.mediaOffered.video)
    $('incoming-from').textContent = peerOf(call)
    $('incoming-media').textContent = video ? 'Video call' : 'Voice call'
    log(`Incoming call from ${peerOf(call)}`)
    render()
    $('answer').focus()
  })

  $('answer').addEventListener('click', () => {
    const call = currentCall()
    if (!call) return
    const video = !!(call.mediaOffered && call.mediaOffered.video)
    client.call.answer(call.id, { audio: true, video })
    log('Answering')
  })
  $('reject').addEventListener('click', () => {
    if (ui.callId) client.call.reject(ui.callId)
    log('Rejected the call')
  })
  $('end').addEventListener('click', () => {
    if (ui.callId) client.call.end(ui.callId)
    log('Hanging up')
  })
  $('hold').addEventListener('click', () => {
    const call = currentCall()
    if (!call) return
    if (call.localHold) client.call.unhold(call.id)
    else client.call.hold(call.id)
  })
  $('mute').addEventListener('click', () => {
    const call = currentCall()
    if (!call) return
    const audio = localTracks(call, 'audio')
    if (audio.length === 0) return
    if (audio.every((t) => t.muted)) client.media.unmuteTracks(audio.map((t) => t.trackId))
    else client.media.muteTracks(audio.map((t) => t.trackId))
  })
  $('video').addEventListener('click', () => {
    const call = currentCall()
    if (!call) return
    if (localTracks(call, 'video').length > 0) client.call.stopVideo(call.id)
    else client.call.startVideo(call.id)
    $('video').disabled = true
  })
  $('dtmf-pad').addEventListener('click', (ev) => {
    const key = ev.target.closest('[data-tone]')
    if (key) sendTone(key.dataset.tone)
  })
  $('dtmf-pad').addEventListener('keydown', (ev) => {
    if (/^[0-9*#]$/.test(ev.key)) {
      const key = $('dtmf-pad').querySelector(`[data-tone="${ev.key}"]`)
      if (key && !key.disabled) {
        ev.preventDefault()
        key.focus()
        sendTone(ev.key)
      }
    }
  })
  function sendTone(tone) {
    if (!ui.callId) return
    client.call.sendDTMF(ui.callId, tone)
    const out = $('dtmf-sent')
    out.textContent = (out.textContent + tone).slice(-16)
  }

  function localTracks(call, kind) {
    return call.localTracks.map((id) => client.media.getTrackById(id)).filter((t) => t && t.kind === kind)
  }

  client.on('call:start', (p) => {
    if (p.error) showError(p.error.message)
  })
  client.on('call:error', (p) => {
    if (p.callId && p.callId !== ui.callId) return
    showError(p.error.message)
    render()
  })
  client.on('call:stateChange', (p) => {
    if (p.callId !== ui.callId) return
    const call = currentCall()
    if (p.error && p.error.message) showError(p.error.message)
    log(`Call ${p.previous.state} → ${call.state}`)
    if (call.state === 'Connected' && !ui.connectedAt) ui.connectedAt = Date.now()
    if (!ACTIVE.includes(call.state)) {
      ui.connectedAt = 0
      $('remote-media').replaceChildren()
      $('local-media').replaceChildren()
      $('dtmf-sent').textContent = ''
    }
    render()
  })
  client.on('call:operation', (p) => {
    if (p.callId === ui.callId && p.operation === 'SEND_DTMF' && p.transition === 'FINISH' && !p.error)
      log('Sent DTMF')
    if (p.callId === ui.callId && p.transition === 'FINISH') render()
  })
  client.on('call:newTrack', (p) => {
    const track = client.media.getTrackById(p.trackId)
    if (!track) return
    if (p.local) {
      if (track.kind === 'video') client.media.renderTracks([p.trackId], '#local-media')
    } else client.media.renderTracks([p.trackId], '#remote-media')
    render()
  })
  client.on('call:trackEnded', (p) => {
    client.media.removeTracks([p.trackId], p.local ? '#local-media' : '#remote-media')
    render()
  })
  client.on('media:muted', render)
  client.on('media:unmuted', render)
  client.on('media:trackRendered', render)

  // ── remote sound meter (how a mute on the other side shows here) ────────────────────────────
  const energy = []
  async function sampleAudio() {
    const call = currentCall()
    if (!call || call.state !== 'Connected') {
      energy.length = 0
      return setMeter('none')
    }
    let total = 0
    let seconds = 0
    try {
      const stats = await client.call.getStats(call.id)
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          total += s.totalAudioEnergy || 0
          seconds += s.totalSamplesDuration || 0
        }
      })
    } catch {
      return
    }
    energy.push({ total, seconds })
    while (energy.length > 8) energy.shift()
    if (energy.length < 4) return setMeter('none')
    const first = energy[0]
    const dt = seconds - first.seconds
    const level = dt > 0 ? Math.sqrt((total - first.total) / dt) : 0
    setMeter(level > 0.01 ? 'sound' : 'silent', level)
  }
  function setMeter(state, level) {
    const meter = $('remote-audio')
    meter.dataset.level = state
    meter.style.setProperty('--level', String(Math.min(1, (level || 0) * 4)))
    $('remote-audio-text').textContent = state === 'sound' ? 'Sound' : state === 'silent' ? 'Silent' : '—'
  }

  // ── rendering the state ──────────────────────────────────────────────────────────────────────
  function fmt(ms) {
    const s = Math.floor(ms / 1000)
    const mm = String(Math.floor(s / 60)).padStart(2, '0')
    const ss = String(s % 60).padStart(2, '0')
    return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.slice(-2)}:${ss}` : `${mm}:${ss}`
  }
  function tick() {
    $('call-timer').textContent = ui.connectedAt ? fmt(Date.now() - ui.connectedAt) : '00:00'
  }

  function render() {
    const call = currentCall()
    const state = call ? call.state : 'none'
    const active = !!call && ACTIVE.includes(state)
    const incoming = active && call.direction === 'incoming' && (state === 'Initiated' || state === 'Ringing')
    const connected = state === 'Connected'
    const audio = call ? localTracks(call, 'audio') : []
    const video = call ? localTracks(call, 'video') : []
    const muted = audio.length > 0 && audio.every((t) => t.muted)

    $('make').disabled = !ui.subscribed || active || !$('callee').value.trim()
    $('callee').disabled = active
    $('with-video').disabled = active
    $('answer').disabled = !incoming
    $('reject').disabled = !incoming
    $('incoming').hidden = !incoming
    $('end').disabled = !active
    $('end').textContent = active && !connected && state !== 'On Hold' && call.direction === 'outgoing' ? 'Cancel' : 'End call'

    const canHold = state === 'Connected' || (state === 'On Hold' && !call.localHold)
    const canUnhold = state === 'On Hold' && call.localHold
    $('hold').disabled = !(canHold || canUnhold)
    $('hold').textContent = canUnhold ? 'Resume' : 'Hold'
    $('hold').setAttribute('aria-pressed', String(!!(call && call.localHold && active)))

    $('mute').disabled = !connected || audio.length === 0
    $('mute').textContent = muted ? 'Unmute' : 'Mute'
    $('mute').setAttribute('aria-pressed', String(muted && active))

    $('video').disabled = !connected
    $('video').textContent = video.length > 0 ? 'Camera off' : 'Camera on'
    $('video').setAttribute('aria-pressed', String(connected && video.length === 0))

    const dtmfOk = connected || (call && call.direction === 'outgoing' && (state === 'Ringing' || state === 'Early Media'))
    for (const key of $('dtmf-pad').querySelectorAll('button')) key.disabled = !dtmfOk

    const label = !call ? 'No call' : incoming ? 'Incoming' : state
    $('call-state').textContent = label
    $('call-state').dataset.state = state
    const peer = call ? peerOf(call) : ''
    $('remote-name').textContent = active ? peer : 'No call'
    $('remote-initial').textContent = active && peer ? peer[0].toUpperCase() : '?'
    $('remote-placeholder').hidden = !!$('remote-media').querySelector('video')
    $('local-placeholder').hidden = !!$('local-media').querySelector('video')
    $('local-flags').textContent = active && muted ? 'Muted' : ''
    $('local-flags').className = active && muted ? 'flag' : ''

    let notice = ''
    if (state === 'On Hold') {
      if (call.localHold && call.remoteHold) notice = `You and ${peer} have put the call on hold`
      else if (call.localHold) notice = 'You put the call on hold'
      else notice = `${peer} put the call on hold`
    }
    $('hold-notice').textContent = notice
    $('hold-notice').hidden = !notice

    if (!ui.subscribed) {
      if (ui.user) setStatus('Not connected', 'error')
    } else if (!active) setStatus(`Signed in as ${ui.user}`, 'ready')
    else if (incoming) setStatus(`Incoming call from ${peer}`, 'ringing')
    else if (state === 'Connected') setStatus(`In a call with ${peer}`, 'live')
    else if (state === 'On Hold') setStatus(`On hold with ${peer}`, 'hold')
    else setStatus(`Calling ${peer}…`, 'ringing')

    if (active && !ui.timer) {
      ui.timer = setInterval(tick, 500)
      ui.meter = setInterval(sampleAudio, 400)
    } else if (!active && ui.timer) {
      clearInterval(ui.timer)
      clearInterval(ui.meter)
      ui.timer = 0
      setMeter('none')
    }
    tick()
  }

  window.addEventListener('pagehide', () => {
    const c = currentCall()
    if (c && ACTIVE.includes(c.state)) client.call.end(c.id)
  })
  render()
})()
