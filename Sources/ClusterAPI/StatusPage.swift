/// `GET /ui/`: one page, no build step, no external assets. It logs in with a token kept in the
/// browser's session storage (asked once, or given as `/ui/#token=<jwt>`), then reads `/cluster/healthcheck` and
/// `/agents/summary/status` every 5 seconds and shows the nodes, their health and last syncs, and the
/// agents by status and per node.
enum StatusPage {
    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wazuh cluster status</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}
h1{font-size:20px}table{border-collapse:collapse;margin:1em 0;background:#fff}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#eee}
.ok{color:#17702a}.bad{color:#a01010}#error{color:#a01010}
</style></head>
<body>
<h1>Wazuh cluster <span id="cluster"></span></h1>
<div id="login" hidden><input id="user" placeholder="user" value="wazuh"> <input id="pass" type="password" placeholder="password">
<button id="go">Log in</button></div>
<p id="error"></p>
<table id="nodes"><thead><tr><th>Node</th><th>Type</th><th>Version</th><th>Address</th><th>Active agents</th>
<th>Last keep-alive</th><th>Integrity check</th><th>Integrity sync</th><th>Agent-info</th><th>Agent-groups</th></tr></thead><tbody></tbody></table>
<table id="agents"><thead><tr><th>Status</th><th>Agents</th></tr></thead><tbody></tbody></table>
<p>Refreshes every 5 s. <span id="updated"></span></p>
<script>
const $ = id => document.getElementById(id);
function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; }
async function api(path) {
  const r = await fetch(path, {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('token')}});
  if (r.status === 401) { sessionStorage.removeItem('token'); $('login').hidden = false; throw new Error('log in first'); }
  const j = await r.json(); if (!r.ok) throw new Error(j.detail || r.statusText); return j;
}
async function login() {
  const r = await fetch('/security/user/authenticate', {method: 'POST',
    headers: {Authorization: 'Basic ' + btoa($('user').value + ':' + $('pass').value)}});
  const j = await r.json(); if (!r.ok) { $('error').textContent = j.detail; return; }
  sessionStorage.setItem('token', j.data.token); $('login').hidden = true; refresh();
}
async function refresh() {
  if (!sessionStorage.getItem('token')) { $('login').hidden = false; return; }
  try {
    const health = await api('/cluster/healthcheck');
    const body = $('nodes').tBodies[0]; body.innerHTML = '';
    for (const n of health.data.affected_items) {
      const row = body.insertRow(), s = n.status || {}, i = n.info;
      cell(row, i.name); cell(row, i.type); cell(row, i.version); cell(row, i.ip); cell(row, i.n_active_agents);
      cell(row, s.last_keep_alive || '-', i.type === 'master' ? '' : 'ok');
      cell(row, (s.last_check_integrity || {}).date_end_master || '-');
      cell(row, (s.last_sync_integrity || {}).date_end_master || '-');
      cell(row, (s.last_sync_agentinfo || {}).date_end_master || '-');
      cell(row, (s.last_sync_agentgroup || {}).date_end || '-');
    }
    const summary = await api('/agents/summary/status');
    const ab = $('agents').tBodies[0]; ab.innerHTML = '';
    for (const [k, v] of Object.entries(summary.data.connection)) { const row = ab.insertRow(); cell(row, k); cell(row, v); }
    $('error').textContent = ''; $('updated').textContent = 'Last update: ' + new Date().toISOString();
  } catch (e) { $('error').textContent = e.message; }
}
$('go').onclick = login;
if (location.hash.startsWith('#token=')) {
  sessionStorage.setItem('token', decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, '', location.pathname);
}
refresh(); setInterval(refresh, 5000);
</script></body></html>
"""#
}
