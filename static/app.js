// ontime live page: the few behaviours htmx does not cover, in a static
// file because the page's CSP forbids inline scripts (script-src 'self').
//
// - Connection indicator: [data-testid="conn-state"] gets data-state and
//   text live | reconnecting | offline from the SSE extension's events
//   (htmx:sseOpen, htmx:sseError, htmx:sseMessage); [data-testid="conn-age"]
//   shows the time since the last batch. The browser's EventSource (and the
//   extension, when the source is closed) reconnects by itself, so a server
//   restart resumes without a reload.
// - Table filter: [data-testid="filter-problems"] hides on-time rows (a
//   class on the table; rows keep streaming in).
// - Table pause: [data-testid="pause-table"] stops swapping the "events"
//   fragment (htmx:sseBeforeMessage is cancelled) while stats and charts
//   keep updating; resuming shows the newest rows held back.
// - Settings form: focus the first invalid field after a failed submit, and
//   show answers htmx does not swap (401, 403, 429, network errors).
(function () {
  'use strict';

  // Lost for this long: "offline", not "reconnecting". The React dashboard
  // uses the same threshold (DEFAULTS.offlineAfterMs in
  // frontend-react/src/realtimeClient.ts; a test there holds them equal).
  var OFFLINE_AFTER_MS = 10000;
  var STALE_AFTER_MS = 5000; // no batch for this long while connected: age shown as stale

  var lastBatch = 0; // Date.now() of the last batch, 0 before the first
  var lostAt = 0; // when the stream was lost, 0 while connected
  var paused = false;
  var held = null; // newest rows fragment received while paused
  var heldCount = 0;

  function byTestId(id) {
    return document.querySelector('[data-testid="' + id + '"]');
  }

  function setConn(state) {
    var el = byTestId('conn-state');
    if (el && el.getAttribute('data-state') !== state) {
      el.setAttribute('data-state', state);
      el.textContent = state;
    }
  }

  function seconds(ms) {
    var s = ms / 1000;
    return (s < 10 ? s.toFixed(1) : Math.round(s).toString()) + ' s';
  }

  function refresh() {
    var now = Date.now();
    if (lostAt) {
      setConn(!navigator.onLine || now - lostAt >= OFFLINE_AFTER_MS ? 'offline' : 'reconnecting');
    }
    var age = byTestId('conn-age');
    if (!age) return;
    var text = lastBatch ? 'last batch ' + seconds(now - lastBatch) + ' ago' : 'no batch yet';
    if (age.textContent !== text) age.textContent = text;
    age.classList.toggle('stale', lastBatch > 0 && now - lastBatch > STALE_AFTER_MS);
  }

  function connected() {
    lostAt = 0;
    setConn('live');
    refresh();
  }

  document.addEventListener('htmx:sseOpen', connected);
  document.addEventListener('htmx:sseError', function () {
    if (!lostAt) lostAt = Date.now();
    refresh();
  });
  document.addEventListener('htmx:sseMessage', function (e) {
    if (e.detail && e.detail.type === 'stats') {
      lastBatch = Date.now();
      connected();
    }
  });
  window.addEventListener('offline', function () {
    if (!lostAt) lostAt = Date.now();
    refresh();
  });
  window.addEventListener('online', refresh);
  window.setInterval(refresh, 500);

  // Table pause: the "events" swap is cancelled while paused, the newest
  // fragment kept so that resuming shows it at once.
  document.addEventListener('htmx:sseBeforeMessage', function (e) {
    if (!paused || !e.detail || e.detail.type !== 'events') return;
    e.preventDefault();
    held = e.detail.data;
    heldCount++;
    note();
  });

  function note() {
    var el = byTestId('table-note');
    if (!el) return;
    var text = '';
    if (paused) {
      text = 'Paused: counters and charts keep running' + (heldCount ? '; ' + heldCount + ' updates held' : '') + '.';
    }
    if (el.textContent !== text) el.textContent = text;
  }

  document.addEventListener('click', function (e) {
    var btn = e.target instanceof Element ? e.target.closest('button[data-testid]') : null;
    if (!btn) return;
    var table = document.getElementById('event-table');
    switch (btn.getAttribute('data-testid')) {
      case 'filter-problems': {
        var on = btn.getAttribute('aria-pressed') !== 'true';
        btn.setAttribute('aria-pressed', on ? 'true' : 'false');
        if (table) table.classList.toggle('problems-only', on);
        break;
      }
      case 'pause-table':
        paused = !paused;
        btn.textContent = paused ? 'Resume table' : 'Pause table';
        btn.classList.toggle('active', paused);
        if (table) table.classList.toggle('paused', paused);
        if (!paused && held !== null) {
          var rows = document.getElementById('event-rows');
          if (rows) htmx.swap(rows, held, { swapStyle: 'innerHTML', swapDelay: 0, settleDelay: 0 });
        }
        held = null;
        heldCount = 0;
        note();
        break;
    }
  });

  // Settings form.
  document.addEventListener('htmx:afterSwap', function (e) {
    var form = e.target;
    if (!(form instanceof Element) || form.id !== 'controls') return;
    var bad = form.querySelector('[aria-invalid="true"]');
    if (bad) bad.focus();
  });

  function formProblem(e, text) {
    var form = e.detail && e.detail.elt instanceof Element ? e.detail.elt.closest('#controls') : null;
    if (!form) return;
    var el = form.querySelector('[data-testid="control-error"]');
    if (!el) {
      el = document.createElement('p');
      el.className = 'form-error';
      el.setAttribute('role', 'alert');
      el.setAttribute('data-testid', 'control-error');
      var ok = form.querySelector('[data-testid="control-applied"]');
      if (ok) ok.remove();
      form.insertBefore(el, form.querySelector('.fields'));
    }
    el.textContent = text;
  }

  document.addEventListener('htmx:responseError', function (e) {
    var xhr = e.detail && e.detail.xhr;
    if (!xhr) return;
    var msg = xhr.responseText || xhr.statusText;
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && typeof body.error === 'string') msg = body.error;
    } catch (_) {
      // not JSON: keep the text
    }
    formProblem(e, 'Not applied (' + xhr.status + '): ' + msg);
  });
  document.addEventListener('htmx:sendError', function (e) {
    formProblem(e, 'Not applied: the server could not be reached.');
  });
})();
