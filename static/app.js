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
// - Event details: a row (click, or Enter/Space on the focused row) opens
//   its event in the #event-detail dialog, which stays open while the table
//   streams on (see openDetail). Keyboard focus on a row survives the
//   table's re-render every tick.
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
    if (!e.detail || e.detail.type !== 'events') return;
    if (!paused) {
      focusedRow = rowIndex(document.activeElement);
      return;
    }
    e.preventDefault();
    held = e.detail.data;
    heldCount++;
    note();
  });

  // The table's rows are replaced every tick: a row that had keyboard
  // focus gives it to the row now in its place, so a keyboard user stays
  // in the table.
  var focusedRow = -1;
  function rowIndex(el) {
    return el instanceof HTMLTableRowElement && el.parentElement && el.parentElement.id === 'event-rows' ? el.sectionRowIndex : -1;
  }
  function focusRow(i) {
    var body = document.getElementById('event-rows');
    if (i < 0 || !body || body.rows.length === 0) return;
    body.rows[Math.min(i, body.rows.length - 1)].focus({ preventScroll: true });
  }
  document.addEventListener('htmx:sseMessage', function (e) {
    if (!e.detail || e.detail.type !== 'events' || focusedRow < 0) return;
    var i = focusedRow;
    focusedRow = -1;
    if (document.activeElement === document.body || document.activeElement === null) focusRow(i);
  });

  // Event details. The dialog is filled with textContent only: payloads
  // and results are untrusted. The row is a moment of a table that moves
  // on, so the dialog takes a snapshot: at once what the row shows, then
  // the whole event from GET /ui/events/{id} (the server keeps the newest
  // events for this; an event outside them answers 404, and the row's
  // snapshot stays, saying so). Fetching keeps payloads out of the rows,
  // which are sent to every page every tick.
  var detailSeq = 0; // bumped on every open and close: older answers are ignored
  var detailFrom = -1; // the row opened, to give focus back on closing
  var NONE = '\u2014';

  function detailPart(name) {
    var d = document.getElementById('event-detail');
    return d ? d.querySelector('[data-testid="detail-' + name + '"]') : null;
  }
  function setDetail(name, text) {
    var el = detailPart(name);
    if (el) el.textContent = text;
  }
  function setDetailJSON(name, text, noneText) {
    var pre = detailPart(name);
    var none = detailPart(name + '-none');
    if (pre) {
      pre.textContent = text;
      pre.hidden = text === '';
    }
    if (none) {
      none.textContent = noneText;
      none.hidden = text !== '';
    }
  }
  function detailNote(text, problem) {
    var el = detailPart('note');
    if (!el) return;
    el.textContent = text;
    el.classList.toggle('problem', !!problem);
  }
  function pretty(value) {
    try {
      return JSON.stringify(value, null, 2);
    } catch (_) {
      return String(value);
    }
  }
  function utcClock(ms) {
    return typeof ms === 'number' && ms > 0 ? new Date(ms).toISOString().slice(11, 23) : NONE;
  }
  function msText(v) {
    return (typeof v === 'number' ? v : 0).toFixed(1) + ' ms';
  }
  function cellText(row, i) {
    var c = row.cells[i];
    return c ? c.textContent.trim() : '';
  }

  // fromRow fills the dialog with what the row shows.
  function fromRow(row, id) {
    // The reason cell holds the reason, then for a shed event the numbers
    // behind it (.reason-detail).
    var reasonCell = row.cells[6];
    var why = reasonCell ? reasonCell.querySelector('.reason-detail') : null;
    var whyText = why ? why.textContent.trim() : '';
    var reasonAll = cellText(row, 6);
    var reason = (whyText ? reasonAll.slice(0, reasonAll.length - whyText.length).trim() : reasonAll).split(' \u00b7 ');
    var pct = cellText(row, 5);
    var code = row.cells[7] ? row.cells[7].querySelector('code') : null;
    var result = code ? code.getAttribute('title') || code.textContent : '';
    if (result) {
      try {
        result = pretty(JSON.parse(result));
      } catch (_) {
        // not JSON (cannot happen with the server's rows): keep the text
      }
    }
    setDetail('short-id', id.slice(0, 8));
    setDetail('id', id);
    setDetail('source', NONE);
    setDetail('status', row.getAttribute('data-status') || cellText(row, 1));
    setDetail('reason', reason[0] || NONE);
    setDetail('failure', reason[1] || NONE);
    setDetail('why', whyText || NONE);
    setDetail('created', cellText(row, 2));
    setDetail('processed', cellText(row, 3));
    setDetail('latency', cellText(row, 4) + (pct ? ' (' + pct + ' of the deadline)' : ''));
    setDetail('payload-size', NONE);
    setDetailJSON('payload', '', NONE);
    setDetailJSON('result', result, 'none');
  }

  // fromServer fills the dialog with the event as GET /ui/events/{id} answers it.
  function fromServer(e) {
    var pct = e.deadlineMs > 0 ? ' (' + Math.round((e.latencyMs / e.deadlineMs) * 100) + '% of the deadline)' : '';
    var hasPayload = e.payload !== undefined && e.payload !== null;
    setDetail('source', e.source || NONE);
    setDetail('status', e.status || NONE);
    setDetail('reason', e.reason || NONE);
    setDetail('failure', e.failure || NONE);
    setDetail('why', e.detail || NONE);
    setDetail('created', utcClock(e.createdAt));
    setDetail('processed', utcClock(e.processedAt));
    setDetail('latency', msText(e.latencyMs) + ' / ' + msText(e.deadlineMs) + pct);
    setDetail('payload-size', hasPayload ? e.payloadBytes + ' bytes' : 'none');
    setDetailJSON('payload', hasPayload ? pretty(e.payload) : '', 'none');
    setDetailJSON('result', e.result !== undefined && e.result !== null ? pretty(e.result) : '', 'none');
  }

  function openDetail(row) {
    var dialog = document.getElementById('event-detail');
    var id = row.cells[0] ? row.cells[0].getAttribute('title') : '';
    if (!dialog || !id) return;
    var seq = ++detailSeq;
    detailFrom = row.sectionRowIndex;
    fromRow(row, id);
    detailNote('Loading the whole event\u2026', false);
    if (!dialog.open) dialog.show();
    // The dialog itself takes focus, not its Close button: the key that
    // opened it (Enter's keypress, Space's keyup) would press the button.
    dialog.focus({ preventScroll: true });
    fetch('/ui/events/' + encodeURIComponent(id), { headers: { Accept: 'application/json' }, cache: 'no-store' })
      .then(function (res) {
        return res.text().then(function (text) {
          var body = null;
          try {
            body = JSON.parse(text);
          } catch (_) {
            // not JSON: reported below
          }
          if (seq !== detailSeq) return;
          if (res.ok && body && typeof body === 'object') {
            fromServer(body);
            detailNote('As it was when opened; the table keeps streaming.', false);
            return;
          }
          var why = body && typeof body.error === 'string' ? body.error : text || res.statusText;
          if (res.status === 404) {
            detailNote('The server no longer keeps this event (' + why + '). Shown as its row showed it: source and payload are not available.', true);
          } else {
            detailNote('Could not load the whole event (' + res.status + ': ' + why + '). Shown as its row showed it.', true);
          }
        });
      })
      .catch(function () {
        if (seq !== detailSeq) return;
        detailNote('Could not reach the server. Shown as its row showed it.', true);
      });
  }

  function closeDetail() {
    var dialog = document.getElementById('event-detail');
    if (!dialog || !dialog.open) return;
    detailSeq++;
    dialog.close();
    focusRow(detailFrom);
    detailFrom = -1;
  }

  document.addEventListener('click', function (e) {
    var row = e.target instanceof Element ? e.target.closest('#event-rows > tr') : null;
    if (row) openDetail(row);
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') {
      var dialog = document.getElementById('event-detail');
      if (dialog && dialog.open) {
        e.preventDefault();
        closeDetail();
      }
      return;
    }
    if ((e.key === 'Enter' || e.key === ' ') && rowIndex(e.target) >= 0) {
      e.preventDefault(); // Space would scroll the page
      openDetail(e.target);
    }
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
      case 'detail-close':
        closeDetail();
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
