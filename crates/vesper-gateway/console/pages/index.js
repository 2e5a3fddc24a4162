// The console's pages. A later feature adds its page here — one line and one file — without
// touching the others. `scope`: the scope a credential needs to see the page in the menu.
// `nav: false` pages are reached by links only. `match(parts)` picks the page for a route
// (`#/jobs/<id>` → parts ['jobs', '<id>']).
export const PAGES = [
  { id: 'jobs', title: 'Jobs', scope: 'read', load: () => import('./jobs.js') },
  { id: 'job', title: 'Job', scope: 'read', nav: false, load: () => import('./job.js') },
  { id: 'submit', title: 'Submit', scope: 'submit', load: () => import('./submit.js') },
  { id: 'proofs', title: 'Proofs', scope: 'submit', load: () => import('./proofs.js') },
  { id: 'workers', title: 'Workers', scope: 'read', load: () => import('./workers.js') },
  { id: 'metrics', title: 'Metrics', scope: 'read', load: () => import('./metrics.js') },
  { id: 'operator', title: 'Operator', scope: 'admin', load: () => import('./operator.js') },
];
