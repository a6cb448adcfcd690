// Prints what axe-core found over a run of the browser tests (the report checkA11y writes):
// how many page states were checked, and the findings by impact and rule.

import { existsSync, readFileSync } from 'node:fs';
import { A11Y_REPORT } from './harness.js';

if (!existsSync(A11Y_REPORT)) {
  console.log('axe-core: no page state was checked');
  process.exit(0);
}
const checks = readFileSync(A11Y_REPORT, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const byImpact = {};
const byRule = {};
for (const check of checks) {
  for (const v of check.violations) {
    byImpact[v.impact] = (byImpact[v.impact] || 0) + 1;
    (byRule[`${v.impact} ${v.id}`] ||= new Set()).add(`${check.state} (${check.theme})`);
  }
}
const states = new Set(checks.map((c) => c.state)).size;
console.log(`axe-core: ${states} page states checked in ${checks.length} runs (light and dark); findings by impact: ${JSON.stringify(byImpact)}`);
for (const [rule, where] of Object.entries(byRule)) console.log(`  ${rule}: ${[...where].slice(0, 5).join('; ')}${where.size > 5 ? '; …' : ''}`);
