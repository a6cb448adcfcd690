// How an app's running copies stand against its newest secrets version.

import { ago, h } from './dom.js';

/** States in which a copy is not running: no recent report, stopped, or crashed. */
const DOWN = new Set(['gone', 'stopped', 'exited', 'crashed', 'failed']);
export const isDown = (instance) => DOWN.has(instance.status);

/** Live counts of running copies against the newest version. */
export function rolloutSummary(latest, instances) {
  const live = instances.filter((i) => !isDown(i));
  // One phrase whether no copy ever reported, all stopped, or none reported lately; the list
  // of copies says which.
  if (!live.length) return { kind: 'idle', text: 'Not running' };
  const current = live.filter((i) => i.applied_version >= latest).length;
  const n = live.length;
  const copies = `${n} running ${n === 1 ? 'copy' : 'copies'}`;
  if (current === n) return { kind: 'ok', text: latest ? `${copies} · all on version ${latest}` : copies };
  return { kind: 'behind', text: `${copies} · ${current} of ${n} on version ${latest}, ${n - current} updating` };
}

/** One running copy: where it runs and which version it applied. */
export function instanceItem(instance, latest) {
  const gone = isDown(instance);
  const current = instance.applied_version >= latest;
  const kind = gone ? 'gone' : current ? 'ok' : 'behind';
  const state = gone
    ? `not running · last reported version ${instance.applied_version}`
    : current ? `version ${instance.applied_version} (latest)` : `version ${instance.applied_version} · picking up ${latest}…`;
  // The version pair behind a revision: the environment's own version and each included document's.
  const shared = instance.applied?.shared || [];
  const pair = shared.length
    ? ` (own version ${instance.applied.version}, ${shared.map((s) => `${s.name} version ${s.version}`).join(', ')})`
    : '';
  return h('li', { class: `instance ${kind}` },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    h('span', { class: 'instance-host' }, instance.hostname, instance.pid ? ` (pid ${instance.pid})` : ''),
    h('span', { class: 'instance-state' }, state, pair),
    h('span', { class: 'muted instance-seen' }, `${instance.status} · `, ago(instance.reported_at)));
}
