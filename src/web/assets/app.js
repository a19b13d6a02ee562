// actionlog dashboard: the live page. Hand-written for this project, no third-party code.
// Rows are built with textContent only (never innerHTML), so no logged text can become markup.
'use strict';
(function () {
  var root = document.getElementById('live');
  if (!root) { return; }
  // The path the dashboard is mounted under ('' at the root).
  var base = root.getAttribute('data-base') || '';
  var button = document.getElementById('pause');
  var state = document.getElementById('live-state');
  var buffered = document.getElementById('buffered');
  var actions = document.getElementById('live-actions');
  var lines = document.getElementById('live-lines');
  var paused = false;
  var buffer = [];
  var KEEP = 1000;

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    td.textContent = text == null ? '' : String(text);
    if (cls) { td.className = cls; }
    tr.appendChild(td);
    return td;
  }

  function trim(list) {
    while (list.children.length > KEEP) { list.removeChild(list.lastChild); }
  }

  function show(batch) {
    (batch.actions || []).forEach(function (a) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-id', a.id);
      var link = document.createElement('a');
      link.href = base + '/actions/' + encodeURIComponent(a.id);
      link.textContent = a.action_timestamp;
      cell(tr, '').appendChild(link);
      cell(tr, a.action_type);
      var badge = document.createElement('span');
      badge.className = 'badge ' + a.status_class;
      badge.textContent = a.status;
      cell(tr, '').appendChild(badge);
      cell(tr, a.user_id);
      cell(tr, a.source);
      cell(tr, a.job_id);
      cell(tr, a.message, 'msg');
      actions.insertBefore(tr, actions.firstChild);
    });
    (batch.lines || []).forEach(function (l) {
      var li = document.createElement('li');
      li.className = l['class'];
      li.textContent = l.text;
      lines.insertBefore(li, lines.firstChild);
    });
    trim(actions);
    trim(lines);
  }

  function count() {
    var a = 0, l = 0;
    buffer.forEach(function (b) { a += (b.actions || []).length; l += (b.lines || []).length; });
    buffered.textContent = paused ? a + ' actions and ' + l + ' log lines new while paused' : '';
  }

  button.addEventListener('click', function () {
    paused = !paused;
    button.textContent = paused ? 'Resume' : 'Pause';
    state.textContent = paused ? 'paused' : 'live';
    if (!paused) {
      buffer.forEach(show);
      buffer = [];
    }
    count();
  });

  // EventSource reconnects by itself and sends the last event id, from which the server
  // resumes: nothing is lost or repeated across a dropped connection.
  var events = new EventSource(root.getAttribute('data-events'));
  events.addEventListener('ready', function () { state.textContent = paused ? 'paused' : 'live'; });
  events.addEventListener('batch', function (e) {
    var batch = JSON.parse(e.data);
    if (paused) { buffer.push(batch); count(); } else { show(batch); }
  });
  events.addEventListener('error', function () { state.textContent = 'reconnecting…'; });
})();
