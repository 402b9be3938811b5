// avad serve's web UI: sign in with a token (kept in sessionStorage), upload a video, the job list, and a report
// page with the score timeline and the video (click the timeline to seek); with `--watch`, the cameras page with
// live scores and recent events. Plain DOM, no framework, no build step.
// Every text that comes from the server or a user (file names, errors, classes) is set with textContent, never as
// HTML.
'use strict';

(function () {
  const TOKEN_KEY = 'avad_token';
  const FINAL = new Set(['done', 'failed', 'cancelled', 'expired']);
  let pollTimer = null;
  let reportState = null;

  const $ = (id) => document.getElementById(id);
  const token = () => sessionStorage.getItem(TOKEN_KEY);

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = Object.assign({}, opts.headers || {}, { Authorization: 'Bearer ' + token() });
    opts.cache = 'no-store';
    const r = await fetch(path, opts);
    if (r.status === 401) {
      signOut('The token was refused (revoked, or mistyped): sign in again.');
      throw new HttpError(401, 'unauthorized');
    }
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try {
        const body = await r.json();
        if (body && body.error) msg = body.error;
      } catch (e) { /* not JSON */ }
      throw new HttpError(r.status, msg);
    }
    return r;
  }

  function stopPolling() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
  }

  function show(view) {
    for (const v of ['signin', 'jobs', 'report', 'cameras']) $('view-' + v).hidden = v !== view;
    $('signout').hidden = view === 'signin';
    $('nav').hidden = view === 'signin';
    $('nav-jobs').classList.toggle('current', view === 'jobs' || view === 'report');
    $('nav-cameras').classList.toggle('current', view === 'cameras');
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    stopPolling();
    stopLive();
    $('signin-error').textContent = message || '';
    if (location.hash !== '#/signin') location.hash = '#/signin';
    else route();
  }

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  function fmtSeconds(s) {
    const m = Math.floor(s / 60);
    const r = (s - 60 * m).toFixed(1).padStart(4, '0');
    return m + ':' + r;
  }

  // ---- sign in ----
  async function onSignIn(ev) {
    ev.preventDefault();
    const t = $('token').value.trim();
    $('signin-error').textContent = '';
    if (!t) return;
    const r = await fetch('/v1/jobs?limit=1', { headers: { Authorization: 'Bearer ' + t }, cache: 'no-store' });
    if (r.ok) {
      sessionStorage.setItem(TOKEN_KEY, t);
      $('token').value = '';
      // Back to the page asked for (a report link), else the job list.
      if (!location.hash || location.hash === '#/signin') location.hash = '#/jobs';
      else route();
    } else if (r.status === 429) {
      $('signin-error').textContent = 'Too many wrong tokens from this address: wait a minute.';
    } else {
      $('signin-error').textContent = 'This token is not valid.';
    }
  }

  // ---- jobs ----
  let olderCursor = null;

  function jobRow(j) {
    const tr = document.createElement('tr');
    tr.dataset.id = j.id;
    tr.dataset.status = j.status;
    tr.appendChild(el('td', j.file_name, 'file-name'));
    tr.appendChild(el('td', j.status, 'status status-' + j.status));
    const p = document.createElement('progress');
    p.max = 1;
    p.value = j.progress || 0;
    const td = document.createElement('td');
    td.appendChild(p);
    tr.appendChild(td);
    tr.appendChild(el('td', fmtTime(j.created_at)));
    const link = el('a', j.status === 'done' ? 'Report' : 'Details');
    link.href = '#/jobs/' + encodeURIComponent(j.id);
    const tdl = document.createElement('td');
    tdl.appendChild(link);
    tr.appendChild(tdl);
    if (j.error) tr.title = j.error;
    return tr;
  }

  async function loadJobs(append) {
    stopPolling();
    try {
      const q = append && olderCursor ? '?limit=20&cursor=' + encodeURIComponent(olderCursor) : '?limit=20';
      const page = await (await api('/v1/jobs' + q)).json();
      const body = $('jobs').querySelector('tbody');
      if (!append) body.replaceChildren();
      for (const j of page.jobs) body.appendChild(jobRow(j));
      olderCursor = page.next_cursor;
      $('jobs-more').hidden = !olderCursor;
      $('jobs-empty').hidden = body.children.length > 0;
      $('jobs-error').textContent = '';
      if (!append && page.jobs.some((j) => !FINAL.has(j.status))) {
        pollTimer = setTimeout(() => { if (!$('view-jobs').hidden) loadJobs(false); }, 1000);
      }
    } catch (e) {
      if (e.status !== 401) $('jobs-error').textContent = e.message;
    }
  }

  function onUpload(ev) {
    ev.preventDefault();
    const f = $('file').files[0];
    if (!f) return;
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/jobs?name=' + encodeURIComponent(f.name));
    xhr.setRequestHeader('Authorization', 'Bearer ' + token());
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    const bar = $('upload-progress');
    bar.hidden = false;
    bar.value = 0;
    $('upload-button').disabled = true;
    $('upload-status').textContent = 'Uploading ' + f.name + '…';
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.onload = () => {
      $('upload-button').disabled = false;
      bar.hidden = true;
      if (xhr.status === 202) {
        $('upload-status').textContent = 'Uploaded ' + f.name + '.';
        $('upload-form').reset();
        loadJobs(false);
      } else if (xhr.status === 401) {
        signOut('The token was refused: sign in again.');
      } else {
        let msg = xhr.status + ' ' + xhr.statusText;
        try { msg = JSON.parse(xhr.responseText).error || msg; } catch (e) { /* not JSON */ }
        $('upload-status').textContent = 'Upload failed: ' + msg;
      }
    };
    xhr.onerror = () => {
      $('upload-button').disabled = false;
      bar.hidden = true;
      $('upload-status').textContent = 'Upload failed: the connection broke.';
    };
    xhr.send(f);
  }

  // ---- report ----
  async function loadReport(id) {
    stopPolling();
    reportState = null;
    $('report-error').textContent = '';
    $('report-body').hidden = true;
    const video = $('video');
    video.removeAttribute('src');
    video.load();
    let job;
    try {
      job = await (await api('/v1/jobs/' + encodeURIComponent(id))).json();
    } catch (e) {
      if (e.status !== 401) $('report-error').textContent = e.message;
      return;
    }
    $('report-title').textContent = job.file_name;
    $('report-status').textContent = job.status + (job.error ? ': ' + job.error : '');
    $('report-progress').hidden = FINAL.has(job.status);
    $('report-progress').value = job.progress || 0;
    if (!FINAL.has(job.status)) {
      pollTimer = setTimeout(() => { if (location.hash === '#/jobs/' + encodeURIComponent(id)) loadReport(id); }, 1000);
      return;
    }
    if (job.status !== 'done') return;
    try {
      const report = await (await api('/v1/jobs/' + encodeURIComponent(id) + '/report')).json();
      try {
        const link = await (await api('/v1/jobs/' + encodeURIComponent(id) + '/video-link')).json();
        video.src = link.url;
      } catch (e) {
        // 410: the video was removed after the retention time; the report is still shown.
        if (e.status !== 410) throw e;
        $('report-error').textContent = e.message;
      }
      reportState = { id, report, duration: reportDuration(report) };
      $('report-body').hidden = false;
      fillEvents(report);
      drawAll();
    } catch (e) {
      if (e.status !== 401) $('report-error').textContent = e.message;
    }
  }

  function reportDuration(report) {
    const s = report.snippets;
    return s.length ? s[s.length - 1].end_s : 0;
  }

  function fillEvents(report) {
    const body = $('events').querySelector('tbody');
    body.replaceChildren();
    for (const ev of report.events) {
      const tr = document.createElement('tr');
      const start = el('a', fmtSeconds(ev.start_s));
      start.href = '#';
      start.addEventListener('click', (e) => { e.preventDefault(); seek(ev.start_s); });
      const td = document.createElement('td');
      td.appendChild(start);
      tr.appendChild(td);
      tr.appendChild(el('td', fmtSeconds(ev.end_s)));
      tr.appendChild(el('td', ev.class));
      tr.appendChild(el('td', ev.peak_score.toFixed(3)));
      body.appendChild(tr);
    }
    $('events-empty').hidden = report.events.length > 0;
  }

  function seek(t) {
    const v = $('video');
    v.currentTime = t;
    drawAll();
  }

  function drawAll() {
    drawTimeline();
    drawClasses();
  }

  // ---- plots (report timeline, class curves, camera score strips) ----
  // A cleared canvas: its context and size, and x (0..span) and y (0..1, upwards) mapped to pixels.
  function plot(c, span, pad) {
    const ctx = c.getContext('2d');
    const W = c.width, H = c.height;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = '#fbfbfd';
    ctx.fillRect(0, 0, W, H);
    return { ctx, W, H, x: (t) => (span > 0 ? (t / span) * W : 0), y: (v) => pad + (1 - v) * (H - 2 * pad) };
  }

  // A line through the pixel points `pts` ([[x, y], …]); `dash` as for setLineDash.
  function polyline(ctx, pts, colour, width, dash) {
    if (!pts.length) return;
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.setLineDash(dash || []);
    ctx.beginPath();
    pts.forEach(([px, py], i) => { if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py); });
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.lineWidth = 1;
  }

  // Shaded spans [[x0, x1], …] (events).
  function shade(p, spans) {
    p.ctx.fillStyle = 'rgba(214, 69, 65, 0.18)';
    for (const [x0, x1] of spans) p.ctx.fillRect(x0, 0, Math.max(2, x1 - x0), p.H);
  }

  // The video's play head.
  function playHead(p) {
    const px = p.x($('video').currentTime || 0);
    polyline(p.ctx, [[px, 0], [px, p.H]], '#111', 1);
  }

  // One point per snippet, at its middle, of the values `value(s)` that are present.
  function snippetPoints(p, snippets, value) {
    return snippets.filter((s) => value(s) !== null && value(s) !== undefined)
      .map((s) => [p.x((s.start_s + s.end_s) / 2), p.y(value(s))]);
  }

  function drawTimeline() {
    if (!reportState) return;
    const { report, duration } = reportState;
    const p = plot($('timeline'), duration, 8);
    shade(p, report.events.map((ev) => [p.x(ev.start_s), p.x(ev.end_s)]));
    polyline(p.ctx, [[0, p.y(report.threshold)], [p.W, p.y(report.threshold)]], '#888', 1, [5, 4]);
    // The audio share and the fusion's audio gate (audio-visual models only).
    polyline(p.ctx, snippetPoints(p, report.snippets, (s) => s.audio_share), '#3a7bd5', 1);
    polyline(p.ctx, snippetPoints(p, report.snippets, (s) => s.audio_gate), '#3a7bd5', 1, [2, 3]);
    // Anomaly score: a step line over each snippet.
    const steps = [];
    for (const s of report.snippets) {
      steps.push([p.x(s.start_s), p.y(s.anomaly_score)], [p.x(s.end_s), p.y(s.anomaly_score)]);
    }
    polyline(p.ctx, steps, '#c0392b', 2);
    playHead(p);
  }

  const CLASS_COLOURS = ['#8e44ad', '#16a085', '#d35400', '#2c3e50', '#c0392b', '#27ae60', '#f39c12', '#2980b9',
    '#7f8c8d', '#e84393', '#00b894', '#6c5ce7', '#fdcb6e', '#e17055'];

  // One line per abnormal class (index 0, normal, left out), with a legend written as text.
  function drawClasses() {
    if (!reportState) return;
    const { report, duration } = reportState;
    const p = plot($('classes'), duration, 6);
    const legend = $('legend');
    legend.replaceChildren();
    report.class_names.forEach((name, k) => {
      if (k === 0) return;
      const colour = CLASS_COLOURS[(k - 1) % CLASS_COLOURS.length];
      polyline(p.ctx, snippetPoints(p, report.snippets, (s) => s.probs[k] || 0), colour, 1.5);
      const item = el('span', name, 'legend-item');
      const swatch = el('span', null, 'swatch');
      swatch.style.backgroundColor = colour;
      item.prepend(swatch);
      legend.appendChild(item);
    });
    playHead(p);
  }

  function onTimelineClick(ev) {
    if (!reportState || reportState.duration <= 0) return;
    const c = ev.currentTarget;
    const rect = c.getBoundingClientRect();
    const frac = Math.min(1, Math.max(0, (ev.clientX - rect.left) / rect.width));
    seek(frac * reportState.duration);
  }

  async function download(format) {
    if (!reportState) return;
    try {
      const q = format === 'json' ? '' : '?format=' + format;
      const blob = await (await api('/v1/jobs/' + encodeURIComponent(reportState.id) + '/report' + q)).blob();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = reportState.id + '.' + format;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (e) {
      if (e.status !== 401) $('report-error').textContent = e.message;
    }
  }

  // ---- cameras ----
  // The cameras of `avad serve --watch`: a card per camera with its latest score and a strip of recent scores, and
  // the recent events. Live updates come from /v1/events/stream read with fetch (EventSource cannot send the bearer
  // token); a broken stream is reopened with back-off, and the event list is re-read after a gap.
  const SPARK_POINTS = 240;
  const IDLE_MS = 10000;
  const MAX_EVENTS = 50;
  let live = null;

  function stopLive() {
    if (!live) return;
    live.abort.abort();
    clearInterval(live.idleTimer);
    live = null;
  }

  function setLiveStatus(text, on) {
    const s = $('live-status');
    s.textContent = text;
    s.classList.toggle('on', !!on);
  }

  function cameraCard(c) {
    const card = el('div', null, 'camera');
    card.dataset.name = c.name;
    card.dataset.scores = '0';
    const h = el('h3');
    h.appendChild(el('span', c.name, 'name'));
    const state = el('span', 'idle', 'state');
    h.appendChild(state);
    const score = el('span', c.last_score === null || c.last_score === undefined ? '–' : c.last_score.toFixed(3),
      'score');
    h.appendChild(score);
    card.appendChild(h);
    card.appendChild(el('p', c.source, 'source'));
    const spark = document.createElement('canvas');
    spark.className = 'spark';
    spark.width = 480;
    spark.height = 90;
    spark.setAttribute('aria-label', 'Anomaly score of the latest snippets (red), open events shaded');
    card.appendChild(spark);
    const event = el('div', '', 'event');
    card.appendChild(event);
    return { card, state, score, spark, event, scores: [], lastMs: c.active ? Date.now() : 0, open: null };
  }

  // The camera's latest SPARK_POINTS scores (newest at the right); runs scored while an event was open shaded.
  function drawSpark(cam) {
    const p = plot(cam.spark, SPARK_POINTS - 1, 4);
    const first = SPARK_POINTS - cam.scores.length;
    const runs = [];
    cam.scores.forEach((s, i) => {
      if (!s.hot) return;
      const last = runs[runs.length - 1];
      if (last && last[1] === i - 1) last[1] = i; else runs.push([i, i]);
    });
    shade(p, runs.map(([a, b]) => [p.x(first + a), p.x(first + b)]));
    polyline(p.ctx, [[0, p.y(0.5)], [p.W, p.y(0.5)]], '#ccc', 1);
    polyline(p.ctx, cam.scores.map((s, i) => [p.x(first + i), p.y(s.v)]), '#c0392b', 2);
  }

  function markActivity(cam) {
    const on = Date.now() - cam.lastMs <= IDLE_MS;
    cam.state.textContent = on ? 'live' : 'idle';
    cam.state.classList.toggle('live', on);
  }

  function onScore(state, line) {
    const cam = state.cams.get(line.camera);
    const v = Number(line.anomaly_score);
    if (!cam || !isFinite(v)) return;
    cam.scores.push({ v: Math.min(1, Math.max(0, v)), hot: !!cam.open });
    if (cam.scores.length > SPARK_POINTS) cam.scores.splice(0, cam.scores.length - SPARK_POINTS);
    cam.score.textContent = v.toFixed(3);
    cam.card.dataset.scores = String(Number(cam.card.dataset.scores) + 1);
    cam.lastMs = Date.now();
    markActivity(cam);
    drawSpark(cam);
  }

  // An event message (`new`, `update`, `end`): the event's latest state, by its id.
  function applyEvent(state, msg) {
    const after = msg && msg.after;
    if (!after || !after.id) return;
    state.events.set(after.id, after);
    const cam = state.cams.get(after.camera);
    if (cam) {
      if (after.has_ended) {
        if (cam.open === after.id) cam.open = null;
      } else {
        cam.open = after.id;
      }
      cam.card.classList.toggle('hot', !!cam.open);
      const open = cam.open && state.events.get(cam.open);
      cam.event.textContent = open ? 'Event: ' + open.label + ' since ' + fmtTime(open.start_time) : '';
    }
  }

  function renderEvents(state) {
    const all = Array.from(state.events.values());
    all.sort((a, b) => (a.start_time < b.start_time ? 1 : a.start_time > b.start_time ? -1 : 0));
    for (const e of all.slice(MAX_EVENTS)) state.events.delete(e.id);
    const body = $('camera-events').querySelector('tbody');
    body.replaceChildren();
    for (const e of all.slice(0, MAX_EVENTS)) {
      const tr = document.createElement('tr');
      tr.dataset.eventId = e.id;
      tr.dataset.ended = String(!!e.has_ended);
      if (!e.has_ended) tr.className = 'ongoing';
      tr.appendChild(el('td', e.camera));
      tr.appendChild(el('td', e.label, 'label'));
      tr.appendChild(el('td', fmtTime(e.start_time)));
      tr.appendChild(el('td', e.has_ended ? fmtTime(e.end_time) : 'ongoing', 'end'));
      tr.appendChild(el('td', Number(e.top_score).toFixed(3)));
      tr.appendChild(el('td', e.modality));
      body.appendChild(tr);
    }
    $('camera-events-empty').hidden = all.length > 0;
  }

  // The newest stored event messages, applied oldest first (so each event ends at its latest state).
  async function loadCameraEvents(state) {
    const page = await (await api('/v1/events?limit=100')).json();
    if (live !== state) return;
    for (const m of page.events.slice().reverse()) applyEvent(state, m.message);
    renderEvents(state);
  }

  function dispatchSse(state, frame) {
    let kind = 'message';
    const data = [];
    for (const line of frame.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') kind = value;
      else if (field === 'data') data.push(value);
    }
    if (!data.length) return;
    let payload;
    try { payload = JSON.parse(data.join('\n')); } catch (e) { return; }
    if (kind === 'score') onScore(state, payload);
    else if (kind === 'new' || kind === 'update' || kind === 'end') { applyEvent(state, payload); renderEvents(state); }
    else if (kind === 'lagged') loadCameraEvents(state).catch(() => {});
  }

  async function streamLive(state) {
    let delay = 1000;
    let first = true;
    while (live === state) {
      try {
        if (!first) await loadCameraEvents(state); // what happened while the stream was down
        first = false;
        const r = await fetch('/v1/events/stream?scores=true', {
          headers: { Authorization: 'Bearer ' + token(), Accept: 'text/event-stream' },
          cache: 'no-store',
          signal: state.abort.signal,
        });
        if (r.status === 401) { signOut('The token was refused (revoked, or mistyped): sign in again.'); return; }
        if (!r.ok) throw new Error(r.status + ' ' + r.statusText);
        setLiveStatus('live', true);
        delay = 1000;
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf = (buf + value).replace(/\r\n?/g, '\n');
          let end;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            dispatchSse(state, buf.slice(0, end));
            buf = buf.slice(end + 2);
          }
        }
      } catch (e) {
        if (state.abort.signal.aborted || live !== state) return;
        if (e.status === 401) return;
      }
      if (live !== state) return;
      setLiveStatus('reconnecting…', false);
      await new Promise((res) => setTimeout(res, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  async function loadCameras() {
    stopLive();
    $('cameras-error').textContent = '';
    setLiveStatus('', false);
    const state = { abort: new AbortController(), cams: new Map(), events: new Map(), idleTimer: null };
    live = state;
    let list;
    try {
      list = await (await api('/v1/cameras')).json();
    } catch (e) {
      if (e.status !== 401) $('cameras-error').textContent = e.message;
      return;
    }
    if (live !== state) return;
    const box = $('cameras');
    box.replaceChildren();
    for (const c of list.cameras) {
      const cam = cameraCard(c);
      state.cams.set(c.name, cam);
      box.appendChild(cam.card);
      markActivity(cam);
      drawSpark(cam);
    }
    $('cameras-empty').hidden = list.cameras.length > 0;
    try {
      await loadCameraEvents(state);
    } catch (e) {
      if (e.status !== 401) $('cameras-error').textContent = e.message;
      return;
    }
    if (!list.cameras.length || live !== state) return;
    state.idleTimer = setInterval(() => { for (const cam of state.cams.values()) markActivity(cam); }, 2000);
    setLiveStatus('connecting…', false);
    streamLive(state);
  }

  // ---- routing ----
  function route() {
    stopPolling();
    stopLive();
    const h = location.hash || '#/jobs';
    if (!token() || h === '#/signin') {
      if (token() && h === '#/signin') { location.hash = '#/jobs'; return; }
      show('signin');
      $('token').focus();
      return;
    }
    const m = /^#\/jobs\/([0-9a-fA-F-]{36})$/.exec(h);
    if (m) {
      show('report');
      loadReport(m[1]);
    } else if (h === '#/cameras') {
      show('cameras');
      loadCameras();
    } else {
      show('jobs');
      loadJobs(false);
    }
  }

  function main() {
    $('signin-form').addEventListener('submit', onSignIn);
    $('upload-form').addEventListener('submit', onUpload);
    $('jobs-more').addEventListener('click', () => loadJobs(true));
    $('signout').addEventListener('click', () => signOut(''));
    $('timeline').addEventListener('click', onTimelineClick);
    $('classes').addEventListener('click', onTimelineClick);
    $('video').addEventListener('timeupdate', drawAll);
    $('video').addEventListener('seeked', drawAll);
    $('dl-json').addEventListener('click', (e) => { e.preventDefault(); download('json'); });
    $('dl-csv').addEventListener('click', (e) => { e.preventDefault(); download('csv'); });
    $('dl-html').addEventListener('click', (e) => { e.preventDefault(); download('html'); });
    window.addEventListener('hashchange', route);
    route();
  }

  document.addEventListener('DOMContentLoaded', main);
})();
