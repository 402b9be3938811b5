// avad serve's web UI: sign in with a token (kept in sessionStorage), upload a video, the job list, and a report
// page with the score timeline and the video (click the timeline to seek). Plain DOM, no framework, no build step.
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
    for (const v of ['signin', 'jobs', 'report']) $('view-' + v).hidden = v !== view;
    $('signout').hidden = view === 'signin';
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    stopPolling();
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

  function drawTimeline() {
    if (!reportState) return;
    const c = $('timeline');
    const ctx = c.getContext('2d');
    const { report, duration } = reportState;
    const W = c.width, H = c.height, pad = 8;
    const x = (t) => (duration > 0 ? (t / duration) * W : 0);
    const y = (v) => pad + (1 - v) * (H - 2 * pad);
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = '#fbfbfd';
    ctx.fillRect(0, 0, W, H);
    // Events.
    ctx.fillStyle = 'rgba(214, 69, 65, 0.18)';
    for (const ev of report.events) ctx.fillRect(x(ev.start_s), 0, Math.max(1, x(ev.end_s) - x(ev.start_s)), H);
    // Threshold.
    ctx.strokeStyle = '#888';
    ctx.setLineDash([5, 4]);
    ctx.beginPath();
    ctx.moveTo(0, y(report.threshold));
    ctx.lineTo(W, y(report.threshold));
    ctx.stroke();
    ctx.setLineDash([]);
    // Audio share (audio-visual models only).
    const share = report.snippets.filter((s) => s.audio_share !== null && s.audio_share !== undefined);
    if (share.length) {
      ctx.strokeStyle = '#3a7bd5';
      ctx.lineWidth = 1;
      ctx.beginPath();
      share.forEach((s, i) => {
        const px = x((s.start_s + s.end_s) / 2), py = y(s.audio_share);
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.stroke();
    }
    // The fusion's audio gate (audio-visual models).
    const gate = report.snippets.filter((s) => s.audio_gate !== null && s.audio_gate !== undefined);
    if (gate.length) {
      ctx.strokeStyle = '#3a7bd5';
      ctx.lineWidth = 1;
      ctx.setLineDash([2, 3]);
      ctx.beginPath();
      gate.forEach((s, i) => {
        const px = x((s.start_s + s.end_s) / 2), py = y(s.audio_gate);
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.stroke();
      ctx.setLineDash([]);
    }
    // Anomaly score: a step line over each snippet.
    ctx.strokeStyle = '#c0392b';
    ctx.lineWidth = 2;
    ctx.beginPath();
    report.snippets.forEach((s, i) => {
      const py = y(s.anomaly_score);
      if (i === 0) ctx.moveTo(x(s.start_s), py); else ctx.lineTo(x(s.start_s), py);
      ctx.lineTo(x(s.end_s), py);
    });
    ctx.stroke();
    // Play head.
    const t = $('video').currentTime || 0;
    ctx.strokeStyle = '#111';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x(t), 0);
    ctx.lineTo(x(t), H);
    ctx.stroke();
  }

  const CLASS_COLOURS = ['#8e44ad', '#16a085', '#d35400', '#2c3e50', '#c0392b', '#27ae60', '#f39c12', '#2980b9',
    '#7f8c8d', '#e84393', '#00b894', '#6c5ce7', '#fdcb6e', '#e17055'];

  // One line per abnormal class (index 0, normal, left out), with a legend written as text.
  function drawClasses() {
    if (!reportState) return;
    const c = $('classes');
    const ctx = c.getContext('2d');
    const { report, duration } = reportState;
    const W = c.width, H = c.height, pad = 6;
    const x = (t) => (duration > 0 ? (t / duration) * W : 0);
    const y = (v) => pad + (1 - v) * (H - 2 * pad);
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = '#fbfbfd';
    ctx.fillRect(0, 0, W, H);
    const legend = $('legend');
    legend.replaceChildren();
    report.class_names.forEach((name, k) => {
      if (k === 0) return;
      const colour = CLASS_COLOURS[(k - 1) % CLASS_COLOURS.length];
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      report.snippets.forEach((s, i) => {
        const px = x((s.start_s + s.end_s) / 2), py = y(s.probs[k] || 0);
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.stroke();
      const item = el('span', name, 'legend-item');
      const swatch = el('span', null, 'swatch');
      swatch.style.backgroundColor = colour;
      item.prepend(swatch);
      legend.appendChild(item);
    });
    const t = $('video').currentTime || 0;
    ctx.strokeStyle = '#111';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x(t), 0);
    ctx.lineTo(x(t), H);
    ctx.stroke();
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

  // ---- routing ----
  function route() {
    stopPolling();
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
