// EdgeMlOps console: a dependency-free front end over the admin API. Every value from the server (device ids,
// tags, reasons: anything a device or a person typed) is rendered as text, never as HTML.
'use strict';

const TOKEN_KEY = 'edgemlops.token';
const REFRESH_MS = 5000;
const MAX_ROWS = 500;
const state = { token: sessionStorage.getItem(TOKEN_KEY), me: null, view: location.hash.slice(1) || 'fleet', timer: null, filter: '' };
const $ = id => document.getElementById(id);

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'onclick') node.addEventListener('click', value);
    else if (key === 'oninput') node.addEventListener('input', value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(child === undefined || child === null ? '' : String(child)));
  return node;
}

async function api(path, options = {}) {
  const headers = { Authorization: 'Bearer ' + state.token };
  if (options.body) headers['Content-Type'] = options.binary ? 'application/octet-stream' : 'application/json';
  const response = await fetch(path, { method: options.method || 'GET', body: options.body, headers, cache: 'no-store' });
  const text = await response.text();
  let body = text;
  try { body = text ? JSON.parse(text) : null; } catch { /* text body (model card) */ }
  // Every problem the server lists (a model line's settings), after its one-line summary.
  if (!response.ok) throw new ApiError(response.status, [(body && body.error) || text || response.statusText, ...((body && body.errors) || [])].join('; '));
  return body;
}

function say(text, kind) {
  const message = $('message');
  message.textContent = text || '';
  message.className = kind || '';
}

const fmt = {
  time: v => v ? new Date(v).toISOString().replace('T', ' ').slice(0, 19) : '-',
  num: (v, digits) => v === null || v === undefined || Number.isNaN(v) ? '-' : (digits === undefined ? String(v) : Number(v).toFixed(digits)),
  tags: tags => tags ? Object.entries(tags).map(([k, v]) => k + '=' + v).join(', ') : '',
};

/** A table: columns are [title, row => text or node, class?]. */
function table(columns, rows, empty) {
  if (!rows.length) return el('p', { class: 'muted' }, empty || 'Nothing yet.');
  return el('table', {},
    el('thead', {}, el('tr', {}, columns.map(([title]) => el('th', { scope: 'col' }, title)))),
    el('tbody', {}, rows.map(row => el('tr', {}, columns.map(([, value, cls]) => el('td', { class: typeof cls === 'function' ? cls(row) : cls }, value(row)))))));
}

// What moved in a drift report's outputs: a classifier's predicted classes, else the output indices.
function predictionDrift(d) {
  const scores = d.driftedOutputs.map(o => (d.classOutputs ? 'predicted classes' : 'output ' + o.feature) + ' (' + o.method + ' ' + Number(o.score).toPrecision(3) + ')');
  return 'yes: ' + scores.join(', ');
}

function cards(items) {
  return el('div', { class: 'cards' }, items.map(([label, value]) => el('div', { class: 'card' }, el('b', {}, value), label)));
}

function has(role) { return !!state.me && state.me.roles.includes(role); }

/** Asks for a reason in a modal dialog; resolves to the reason or null. */
function confirmWithReason(title) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-reason').value = '';
  return new Promise(resolve => {
    const done = value => { dialog.close(); $('confirm-form').onsubmit = null; $('confirm-cancel').onclick = null; resolve(value); };
    $('confirm-form').onsubmit = e => { e.preventDefault(); done($('confirm-reason').value.trim() || null); };
    $('confirm-cancel').onclick = () => done(null);
    dialog.showModal();
  });
}

async function act(title, path, method) {
  const reason = await confirmWithReason(title);
  if (!reason) return;
  try {
    // A DELETE carries its reason in the query (no body); the rest post it.
    if (method === 'DELETE') await api(path + '?reason=' + encodeURIComponent(reason), { method });
    else await api(path, { method: 'POST', body: JSON.stringify({ reason }) });
    say(title + ': done.', 'ok');
  } catch (e) {
    say(title + ': ' + (e.status ? e.status + ' ' : '') + e.message, 'error');
  }
  await render();
}

function lineChart(points, label) {
  const ns = 'http://www.w3.org/2000/svg';
  const width = 560, height = 160, pad = 28;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  if (points.length === 0) return svg;
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys, 0), Math.max(...ys, 1)];
  const sx = x => pad + (x1 === x0 ? 0 : (x - x0) / (x1 - x0)) * (width - 2 * pad);
  const sy = y => height - pad - (y1 === y0 ? 0 : (y - y0) / (y1 - y0)) * (height - 2 * pad);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', points.map(p => sx(p[0]).toFixed(1) + ',' + sy(p[1]).toFixed(1)).join(' '));
  svg.append(line);
  for (const [text, x, y] of [[label, pad, 14], [String(y1), 2, pad], [String(y0), 2, height - pad], ['v' + x0, pad, height - 6], ['v' + x1, width - pad - 20, height - 6]]) {
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', x);
    t.setAttribute('y', y);
    t.textContent = text;
    svg.append(t);
  }
  return svg;
}

/** The form adding a model line: kept from the periodic refresh while anything is typed or chosen in it. */
function lineFormBusy() {
  const form = $('line-form');
  return !!form && [...form.elements].some(e => e.type === 'file' ? e.files.length > 0 : (e.type !== 'submit' && e.value !== '' && e.id !== 'line-memory'));
}

async function addLine(event) {
  event.preventDefault();
  const name = $('line-name').value.trim();
  const query = new URLSearchParams({ reason: $('line-reason').value.trim() });
  const settings = [['HttpUrl', $('line-url').value.trim()], ['MemoryMb', $('line-memory').value.trim()]];
  for (const tag of $('line-cohort').value.split(';').map(t => t.trim()).filter(Boolean)) settings.push(['Cohort:' + tag.split('=')[0].trim(), tag.slice(tag.indexOf('=') + 1).trim()]);
  for (const line of $('line-settings').value.split('\n').map(l => l.trim()).filter(Boolean)) settings.push([line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
  for (const [key, value] of settings) if (value) query.append('set', key + '=' + value);
  const file = $('line-file').files[0];
  try {
    const added = await api(`/v1/admin/lines/${encodeURIComponent(name)}?${query}`, { method: 'POST', body: file ? await file.arrayBuffer() : new ArrayBuffer(0), binary: true });
    $('line-form').reset();
    say(`Model line ${added.line.name} added: its devices start it; its own console is ${added.line.url}` + (added.notice ? ` (${added.notice})` : ''), 'ok');
  } catch (e) {
    say(`Adding model line ${name}: ${e.status ? e.status + ' ' : ''}${e.message}`, 'error');
    return;
  }
  await render();
}

const views = {
  async models() {
    const lines = await api('/v1/admin/lines');
    const cohort = l => Object.entries(l.cohort || {}).map(([tag, values]) => tag + '=' + values.join(',')).join('; ') || 'every device';
    const parts = [
      el('p', { class: 'muted' }, `The fleet's first model is ${state.me.model} (this console). Each further model is a model line with its own registry, rounds, rollouts and console, run by the devices of its cohort.`),
      table([
        ['Line', l => el('a', { href: l.url, title: `model line ${l.name}: its own console` }, l.name)],
        ['Model', l => l.model],
        ['Cohort', cohort],
        ['Memory (MiB)', l => fmt.num(l.memoryMb), 'num'],
        ['Source', l => l.source],
        ['', l => has('operator') && l.source === 'added'
          ? el('button', { type: 'button', class: 'action', 'data-action': 'remove-line', 'data-line': l.name, onclick: () => act(`Remove model line ${l.name} (devices stop it; its data stays)`, `/v1/admin/lines/${encodeURIComponent(l.name)}`, 'DELETE') }, 'Remove')
          : ''],
      ], lines, 'No model lines: the fleet runs one model.'),
    ];
    if (!has('operator')) return parts;
    const form = el('form', { id: 'line-form', class: 'line-form' },
      el('h3', {}, 'Add a model'),
      el('label', {}, 'Name ', el('input', { id: 'line-name', required: true, placeholder: 'kws' })),
      el('label', {}, 'ONNX file ', el('input', { id: 'line-file', type: 'file', accept: '.onnx' })),
      el('label', {}, 'Its API and console ', el('input', { id: 'line-url', required: true, placeholder: 'https://127.0.0.1:8444' })),
      el('label', {}, 'Cohort ', el('input', { id: 'line-cohort', placeholder: 'mic=yes; hw=pi4,jetson (empty: every device)' })),
      el('label', {}, 'Memory (MiB) ', el('input', { id: 'line-memory', type: 'number', min: 1, value: 64 })),
      el('label', {}, 'More settings, one KEY=VALUE a line ', el('textarea', { id: 'line-settings', rows: 3, placeholder: 'ModelInterface:Trainable=last:1\nRounds:LearningRate=0.05\n(Model=mlp-6-8-2 instead of a file)' })),
      el('label', {}, 'Reason (recorded in the audit log) ', el('input', { id: 'line-reason', required: true })),
      el('button', { type: 'submit', id: 'line-add' }, 'Add'));
    form.addEventListener('submit', addLine);
    parts.push(form);
    return parts;
  },

  async fleet() {
    // The server filters and counts: a fleet of 100,000 devices is not sent to the browser every refresh.
    const needle = state.filter;
    const query = `filter=${encodeURIComponent(needle)}`;
    const [summary, shown, gateways] = await Promise.all([api(`/v1/fleet/summary?${query}`), api(`/v1/fleet/devices?${query}&limit=${MAX_ROWS}`), api('/v1/fleet/gateways')]);
    const search = el('input', { id: 'filter', type: 'search', placeholder: 'Filter by id, state, tag, version', value: state.filter });
    search.addEventListener('input', () => { state.filter = search.value; renderSoon(); });
    return [
      cards([['devices', summary.devices], ['online', summary.online], ['versions served', summary.versionsServed]]),
      el('div', { class: 'toolbar' }, search, el('span', { class: 'muted', id: 'shown' }, `showing ${shown.length} of ${summary.matching} matching (${summary.devices} devices)`)),
      table([
        ['Device', d => d.deviceId],
        ['State', d => d.state, d => 'state-' + d.state],
        ['Model', d => d.modelName ? d.modelName + ' v' + d.modelVersion : '-'],
        ['Samples', d => fmt.num(d.sampleCount), 'num'],
        ['Tags', d => fmt.tags(d.tags)],
        // Samples the model's front end refused on a device (values making a count outside the signed range), when any did.
        ...(shown.some(d => d.samplesRefused > 0) ? [['Refused samples', d => fmt.num(d.samplesRefused), 'num']] : []),
        ['Last seen (UTC)', d => fmt.time(d.lastSeen)],
      ], shown, needle ? 'No device matches.' : 'No device has connected yet.'),
      // The edge tier, when the fleet has one (Edge:Gateways): what each gateway delivered, as GET /v1/fleet/gateways says.
      ...(gateways.length ? [el('section', { id: 'gateways' }, el('h3', {}, 'Edge gateways'), table([
        ['Gateway', g => g.gateway],
        ['Device patterns', g => fmt.num(g.devicePatterns), 'num'],
        ['Partials merged', g => fmt.num(g.partialsMerged), 'num'],
        ['Updates in them', g => fmt.num(g.updatesMerged), 'num'],
        ['Last partial (UTC)', g => fmt.time(g.lastPartialAt)],
        ['Refused', g => Object.entries(g.refused || {}).map(([reason, n]) => reason + ' ' + n).join(', ') || '-'],
      ], gateways))] : []),
    ];
  },

  async registry() {
    const versions = await api(`/v1/admin/models/${encodeURIComponent(state.me.model)}/versions?limit=${MAX_ROWS}`); // the newest: a months-old fleet has tens of thousands
    const card = el('pre', { id: 'card', hidden: true });
    const actions = v => {
      const buttons = [el('button', { type: 'button', class: 'action', onclick: async () => { card.textContent = await api(`/v1/admin/models/${encodeURIComponent(state.me.model)}/versions/${v.version}/card`); card.hidden = false; } }, 'Card')];
      if (has('approver') && ['candidate', 'validated'].includes(v.state) && !v.artifactsPrunedAt) { // a pruned version's files are gone: nothing to approve
        buttons.push(el('button', { type: 'button', class: 'action', 'data-action': 'approve', 'data-version': v.version, onclick: () => act(`Approve v${v.version}`, `/v1/admin/models/${encodeURIComponent(state.me.model)}/versions/${v.version}/approve`) }, 'Approve'));
        buttons.push(el('button', { type: 'button', class: 'action', 'data-action': 'reject', 'data-version': v.version, onclick: () => act(`Reject v${v.version}`, `/v1/admin/models/${encodeURIComponent(state.me.model)}/versions/${v.version}/reject`) }, 'Reject'));
      }
      return buttons;
    };
    return [
      el('p', { class: 'muted' }, `Mode ${state.me.mode}. Approving needs the approver role and never applies to a version you created (four eyes).`),
      table([
        ['Version', v => 'v' + v.version],
        ['State', v => v.state + (v.artifactsPrunedAt ? ' (files pruned)' : ''), v => 'state-' + v.state],
        ['Parent', v => v.parent ? 'v' + v.parent : '-'],
        ['Created by', v => v.createdBy],
        ['Created (UTC)', v => fmt.time(v.createdAt)],
        ['Round', v => fmt.num(v.round), 'num'],
        ['Devices', v => fmt.num(v.contributors), 'num'],
        ['Samples', v => fmt.num(v.samples), 'num'],
        ['Held-out accuracy', v => fmt.num(v.evalAccuracy, 4), 'num'],
        // A multi-task model's each task (accuracy of a classifier task, R² of a regression task); the column above is its first.
        ...(versions.some(v => v.taskScores && v.taskScores.length) ? [['Held-out per task', v => (v.taskScores || []).map(t => t.output + ' ' + fmt.num(t.score, 4)).join(', ')]] : []),
        ['Why', v => v.stateReason || ''],
        ['', actions],
      ], [...versions].reverse(), 'No versions.'),
      card,
    ];
  },

  async rollouts() {
    const rollouts = await api('/v1/admin/rollouts');
    const actions = view => {
      const r = view.rollout;
      if (!has('operator')) return [];
      const base = `/v1/admin/rollouts/${encodeURIComponent(r.id)}/`;
      if (r.state === 'Completed' && view === rollouts[rollouts.length - 1] && r.previousVersion) {
        return [el('button', { type: 'button', class: 'action', 'data-action': 'rollback', onclick: () => act(`Roll back ${r.id} to v${r.previousVersion}`, base + 'rollback') }, 'Roll back')];
      }
      if (r.state === 'Shadow' || r.state === 'Experiment') {
        return [
          el('button', { type: 'button', class: 'action', onclick: () => act(`Promote ${r.id} out of its ${r.state === 'Shadow' ? 'shadow' : 'A/B test'}`, base + 'advance') }, 'Promote'),
          el('button', { type: 'button', class: 'action', 'data-action': 'abort', onclick: () => act(`Stop ${r.id} (no device has switched to it)`, base + 'abort') }, 'Abort'),
        ];
      }
      if (!['Active', 'Paused'].includes(r.state)) return [];
      return [
        r.state === 'Active' ? el('button', { type: 'button', class: 'action', onclick: () => act(`Pause ${r.id}`, base + 'pause') }, 'Pause') : el('button', { type: 'button', class: 'action', onclick: () => act(`Resume ${r.id}`, base + 'resume') }, 'Resume'),
        el('button', { type: 'button', class: 'action', onclick: () => act(`Advance ${r.id}`, base + 'advance') }, 'Advance'),
        el('button', { type: 'button', class: 'action', 'data-action': 'abort', onclick: () => act(`Abort ${r.id} (fleet-wide rollback)`, base + 'abort') }, 'Abort'),
      ];
    };
    return [
      table([
        ['Rollout', v => v.rollout.id],
        ['Version', v => 'v' + v.rollout.request.version + (v.rollout.previousVersion ? ' (replaces v' + v.rollout.previousVersion + ')' : '')],
        ['State', v => v.rollout.state, v => 'state-' + v.rollout.state],
        ['Stage', v => `${v.rollout.stage + 1} of ${v.stages.length}`],
        ['Targeted / installed / healthy / failed / rolled back', v => v.stages.filter(s => s.open).map(s => `${Math.round(s.share * 100)}%: ${s.targeted}/${s.installed}/${s.healthy}/${s.failed}/${s.rolledBack}`).join('; ')],
        ['Shadow', v => !v.shadow ? '-' : v.shadow.meanValueDifference != null
          ? `${v.shadow.scored} scored on ${v.shadow.devices} devices; mean |difference| ${fmt.num(v.shadow.meanValueDifference, 4)}; MSE ${fmt.num(v.shadow.candidateMse, 4)} vs ${fmt.num(v.shadow.incumbentMse, 4)} on ${v.shadow.labelled} labelled; p95 ${fmt.num(v.shadow.candidateLatencyP95, 3)} vs ${fmt.num(v.shadow.incumbentLatencyP95, 3)} ms`
          : `${v.shadow.scored} scored on ${v.shadow.devices} devices; agreement ${fmt.num(v.shadow.agreement, 3)}; accuracy ${fmt.num(v.shadow.candidateAccuracy, 4)} vs ${fmt.num(v.shadow.incumbentAccuracy, 4)} on ${v.shadow.labelled} labelled; p95 ${fmt.num(v.shadow.candidateLatencyP95, 3)} vs ${fmt.num(v.shadow.incumbentLatencyP95, 3)} ms`],
        ['A/B test', v => v.experiment ? `${v.experiment.devices} devices; ${v.experiment.metric || 'accuracy'}: B ${fmt.num(v.experiment.valueB, 4)} (${v.experiment.reading.labelledB}) vs A ${fmt.num(v.experiment.valueA, 4)} (${v.experiment.reading.labelledA}); p ${fmt.num(v.experiment.reading.pValue, 4)}; horizon ${v.experiment.reading.horizon}` : '-'],
        ['Gate', v => v.gate.verdict],
        ['Note', v => v.rollout.note],
        ['', actions],
      ], [...rollouts].reverse(), 'No rollouts yet.'),
    ];
  },

  async pipeline() {
    const view = await api('/v1/admin/pipeline');
    const p = view.policy;
    const run = view.active || view.recent[0] || null;
    const buttons = [];
    if (has('operator')) {
      buttons.push(view.paused
        ? el('button', { type: 'button', class: 'action', 'data-action': 'resume-pipeline', onclick: () => act('Resume the retraining pipeline', '/v1/admin/pipeline/resume') }, 'Resume')
        : el('button', { type: 'button', class: 'action', 'data-action': 'pause-pipeline', onclick: () => act('Pause the retraining pipeline', '/v1/admin/pipeline/pause') }, 'Pause'));
      if (view.active) buttons.push(el('button', { type: 'button', class: 'action', 'data-action': 'stop-run', onclick: () => act(`Stop run ${view.active.id}`, '/v1/admin/pipeline/stop') }, 'Stop run'));
      else buttons.push(el('button', { type: 'button', class: 'action', 'data-action': 'start-run', onclick: () => act('Start a retraining run from the deployed version', '/v1/admin/pipeline/runs') }, 'Start a run'));
    }
    if (has('approver') && view.active && view.active.stage === 'AwaitingApproval') {
      buttons.push(el('button', { type: 'button', class: 'action', 'data-action': 'approve-run', onclick: () => act(`Approve v${view.active.candidate} of run ${view.active.id}`, '/v1/admin/pipeline/approve') }, 'Approve'));
    }
    return [
      el('p', { id: 'pipeline-status', class: view.paused ? 'error' : 'ok' },
        `${p.enabled ? 'Triggers on' : 'Triggers off (manual runs only)'}${view.paused ? ` — paused by ${view.pausedBy}` : ''}: ${p.rounds} rounds from the deployed version, ${p.approvals} approval(s), then shadow and stages ${p.rollout.stages.map(s => Math.round(s * 100) + '%').join(' → ')}.`),
      el('div', {}, buttons),
      run ? el('h3', {}, `Run ${run.id}: ${run.stage}`) : el('p', { class: 'muted' }, 'No runs yet.'),
      run ? el('p', { id: 'pipeline-note' }, `${run.trigger.kind}: ${run.trigger.detail} — ${run.note}`) : '',
      run && run.gates.length ? table([
        ['Gate', g => g.gate],
        ['Verdict', g => g.passed ? 'pass' : 'FAIL', g => g.passed ? 'ok' : 'error'],
        ['Evidence', g => g.detail],
      ], run.gates) : '',
      run ? table([
        ['At (UTC)', s => fmt.time(s.at)],
        ['Step', s => s.step],
        ['By', s => s.actor],
        ['Detail', s => s.detail],
      ], run.steps) : '',
      el('h3', {}, 'Recent runs'),
      table([
        ['Run', r => r.id],
        ['Trigger', r => r.trigger.kind],
        ['Base', r => 'v' + r.baseVersion],
        ['Candidate', r => r.candidate ? 'v' + r.candidate : '-'],
        ['Stage', r => r.stage, r => 'state-' + r.stage],
        ['Note', r => r.note],
      ], view.recent, 'No runs yet.'),
    ];
  },

  async training() {
    const model = encodeURIComponent(state.me.model);
    const [rounds, versions] = await Promise.all([api(`/v1/models/${model}/rounds?limit=${MAX_ROWS}`), api(`/v1/admin/models/${model}/versions?limit=${MAX_ROWS}`)]);
    const curve = versions.filter(v => v.evalAccuracy !== null && v.evalAccuracy !== undefined).map(v => [v.version, v.evalAccuracy]);
    return [
      lineChart(curve, 'held-out accuracy by version'),
      table([
        ['Round', r => r.round, 'num'],
        ['Id', r => r.roundId],
        ['Status', r => r.status, r => 'state-' + r.status],
        ['Selected', r => r.selected, 'num'],
        ['Contributed', r => r.contributors, 'num'],
        ['Samples', r => r.samples, 'num'],
        ['Rejected', r => r.rejected, 'num'],
        ['New version', r => r.newVersion ? 'v' + r.newVersion : '-'],
        ['Notes', r => r.notes ? Object.entries(r.notes).map(([k, v]) => k + '=' + fmt.num(v, 4)).join(', ') : ''],
        ['Ended (UTC)', r => fmt.time(r.endedAt)],
      ], [...rounds].reverse().slice(0, MAX_ROWS), 'No rounds yet.'),
    ];
  },

  async monitoring() {
    const drift = await api('/v1/admin/drift?limit=200');
    return [
      el('h3', {}, 'Drift by window and cohort'),
      table([
        ['Version', d => 'v' + d.version],
        ['Cohort', d => d.cohort],
        ['Window', d => d.window, 'num'],
        ['Features judged', d => d.judged, 'num'],
        ['Drifted', d => d.drifted, 'num'],
        ['Share', d => fmt.num(d.share, 2), 'num'],
        ['Dataset drift', d => d.datasetDrift ? 'yes' : 'no', d => d.datasetDrift ? 'error' : ''],
        ['Outputs judged', d => d.outputsJudged, 'num'],
        ['Prediction drift', d => d.predictionDrift ? predictionDrift(d) : 'no', d => d.predictionDrift ? 'error' : ''],
      ], [...drift].reverse(), 'No drift reports yet (they need a reference and profiles from devices).'),
    ];
  },

  async audit() {
    const [verification, entries] = await Promise.all([api('/v1/admin/audit/verify'), api('/v1/admin/audit?limit=200')]);
    return [
      el('p', { id: 'audit-status', class: verification.intact ? 'ok' : 'error' },
        verification.intact ? `Hash chain intact: ${verification.entries} entries, head ${String(verification.headHash).slice(0, 16)}…` : `Hash chain BROKEN at entry ${verification.firstBadSequence}: ${verification.problem}`),
      table([
        ['#', e => e.sequence, 'num'],
        ['At (UTC)', e => fmt.time(e.at)],
        ['Actor', e => e.actor],
        ['Action', e => e.action],
        ['Subject', e => e.subject],
        ['Reason', e => e.reason],
      ], [...entries].reverse(), 'No entries.'),
    ];
  },

  async security() {
    const [events, devices] = await Promise.all([api('/v1/admin/security/events?limit=200'), api(`/v1/admin/devices/enrollment?limit=${MAX_ROWS}`)]); // the first 500 by id: a large fleet is not sent whole every refresh
    return [
      el('h3', {}, 'Security events'),
      table([
        ['At (UTC)', e => fmt.time(e.at)],
        ['Kind', e => e.kind],
        ['Subject', e => e.subject],
        ['Detail', e => e.detail],
      ], events, 'No security events.'),
      el('h3', {}, devices.length < MAX_ROWS ? 'Enrolled devices' : `Enrolled devices (the first ${MAX_ROWS} by id)`),
      table([
        ['Device', d => d.deviceId],
        ['Certificate valid until (UTC)', d => fmt.time(d.notAfter)],
        ['Revoked', d => d.revokedAt ? fmt.time(d.revokedAt) + ' ' + (d.revocationReason || '') : '-', d => d.revokedAt ? 'error' : ''],
      ], devices, 'No device has enrolled yet.'),
    ];
  },
};

let pending = null;
function renderSoon() {
  clearTimeout(pending);
  pending = setTimeout(render, 150);
}

async function render() {
  const view = views[state.view] ? state.view : 'fleet';
  for (const tab of document.querySelectorAll('#tabs button')) {
    if (tab.dataset.view === view) tab.setAttribute('aria-current', 'page'); else tab.removeAttribute('aria-current');
  }
  try {
    const content = await views[view]();
    const main = $('view');
    const focused = document.activeElement && document.activeElement.id === 'filter';
    main.replaceChildren(el('h2', {}, view[0].toUpperCase() + view.slice(1)), ...[content].flat());
    if (focused) { const f = $('filter'); f.focus(); f.setSelectionRange(f.value.length, f.value.length); }
  } catch (e) {
    if (e.status === 401) return signOut('Your token was not accepted.');
    say(e.message, 'error');
  }
  refreshHealth();
}

async function refreshHealth() {
  try {
    const health = await (await fetch('/healthz', { cache: 'no-store' })).json();
    // A replica connected but starved of updates: its broker rule is likely missing (docs/SCALING.md).
    const starved = health.replicasStarved || 0;
    const replicas = starved ? ` · ${starved} replica${starved > 1 ? 's' : ''} starved of updates: write the broker's configuration again` : '';
    $('health').textContent = `${health.status} · v${health.version} · ${health.devicesOnline} online · broker ${health.brokerConnected ? 'up' : 'DOWN'}${replicas}`;
    $('health').className = 'pill ' + (health.status === 'ok' && health.brokerConnected && !starved ? 'ok' : 'bad');
  } catch {
    $('health').textContent = 'aggregator unreachable';
    $('health').className = 'pill bad';
  }
}

function show(view) {
  state.view = view;
  history.replaceState(null, '', '#' + view);
  say('');
  render();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.me = null;
  clearInterval(state.timer);
  $('login').hidden = false;
  $('tabs').hidden = true;
  $('view').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('login-error').textContent = message || '';
}

async function signIn(token) {
  state.token = token;
  try {
    state.me = await api('/v1/admin/whoami');
  } catch (e) {
    return signOut(e.status === 401 ? 'That token is not known to this aggregator.' : e.message);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('login').hidden = true;
  $('tabs').hidden = false;
  $('view').hidden = false;
  $('logout').hidden = false;
  $('who').textContent = `${state.me.name} (${state.me.roles.join(', ')})`;
  $('fleet').replaceChildren(`fleet ${state.me.fleet} · model ${state.me.model}`,
    // The fleet's other models each have a console of their own (their registry, rounds and rollouts).
    ...(state.me.lines || []).flatMap(l => [' · ', el('a', { href: l.url, title: `model line ${l.name}: its own console` }, l.name)]));
  clearInterval(state.timer);
  state.timer = setInterval(() => { if (!$('confirm').open && !lineFormBusy()) render(); }, REFRESH_MS);
  await render();
}

$('login-form').addEventListener('submit', e => { e.preventDefault(); signIn($('token').value.trim()); });
$('logout').addEventListener('click', () => signOut(''));
for (const tab of document.querySelectorAll('#tabs button')) tab.addEventListener('click', () => show(tab.dataset.view));
if (state.token) signIn(state.token); else signOut('');
refreshHealth();
