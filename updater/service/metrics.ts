// /metrics in the Prometheus text exposition format (version 0.0.4).
import type { BoxStatus, HistoryEntry } from '../engine/api.ts';
import { STATES } from '../engine/machine.ts';

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export interface ProcessFigures {
  sseClients: number;
  /** event-loop delay since start (perf_hooks histogram), in ms */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  rssBytes: number;
}

export function renderMetrics(status: BoxStatus, history: HistoryEntry[], extra: ProcessFigures): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, rows: [string, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${labels} ${Number.isFinite(v) ? v : 0}`);
  };
  metric(
    'drydock_update_state',
    'gauge',
    'The update state machine: 1 for the current state.',
    STATES.map((s) => [`{state="${s}"}`, status.state === s ? 1 : 0]),
  );
  metric('drydock_release_info', 'gauge', 'The running release.', [
    [
      `{name="${esc(status.running?.name ?? '')}",version="${esc(status.running?.version ?? '')}",k3s_version="${esc(status.running?.k3sVersion ?? '')}"}`,
      status.running ? 1 : 0,
    ],
  ]);
  metric('drydock_last_check_timestamp_seconds', 'gauge', 'When the channel was last checked (0: never).', [
    ['', status.lastCheck ? Date.parse(status.lastCheck.at) / 1000 : 0],
  ]);
  metric('drydock_last_check_success', 'gauge', 'Whether the last check succeeded (1) or failed (0).', [
    ['', status.lastCheck?.result === 'ok' ? 1 : 0],
  ]);
  metric('drydock_updates_available', 'gauge', 'Installable releases on the channel.', [
    ['', status.available.filter((r) => r.installable).length],
  ]);
  const outcomes = new Map<string, number>();
  for (const h of history)
    outcomes.set(`${h.kind}|${h.outcome}`, (outcomes.get(`${h.kind}|${h.outcome}`) ?? 0) + 1);
  metric(
    'drydock_updates_total',
    'counter',
    'Updates in the history by kind and outcome.',
    [...outcomes].map(([k, v]) => {
      const [kind, outcome] = k.split('|');
      return [`{kind="${kind}",outcome="${outcome}"}`, v];
    }),
  );
  const last = history.find((h) => h.outcome !== 'in-progress');
  metric(
    'drydock_last_update_success',
    'gauge',
    'Whether the last finished update committed (1) or not (0); absent with no history.',
    last ? [[`{to_version="${esc(last.toVersion)}"}`, last.outcome === 'committed' ? 1 : 0]] : [],
  );
  const stepRows: [string, number][] = [];
  for (const h of history.slice(0, 10))
    for (const [step, ms] of Object.entries(h.steps))
      stepRows.push([
        `{id="${h.id}",to_version="${esc(h.toVersion)}",kind="${h.kind}",step="${esc(step)}"}`,
        ms / 1000,
      ]);
  metric(
    'drydock_update_step_duration_seconds',
    'gauge',
    'Duration of each step of the last updates.',
    stepRows,
  );
  metric(
    'drydock_workload_ready',
    'gauge',
    'Readiness of each workload of the running release.',
    status.workloads.map((w) => [
      `{kind="${esc(w.kind)}",namespace="${esc(w.namespace)}",name="${esc(w.name)}"}`,
      w.ready ? 1 : 0,
    ]),
  );
  metric('drydock_disk_free_bytes', 'gauge', 'Free bytes on the disk holding the box state.', [
    [`{path="${esc(status.disk.path)}"}`, status.disk.freeBytes],
  ]);
  metric('drydock_disk_total_bytes', 'gauge', 'Size of the disk holding the box state.', [
    [`{path="${esc(status.disk.path)}"}`, status.disk.totalBytes],
  ]);
  metric('drydock_event_clients', 'gauge', 'Connected Server-Sent Events clients.', [['', extra.sseClients]]);
  metric(
    'drydock_service_event_loop_delay_seconds',
    'gauge',
    'Event-loop delay of the service since it started.',
    [
      ['{quantile="0.99"}', extra.loopDelayP99Ms / 1000],
      ['{quantile="1"}', extra.loopDelayMaxMs / 1000],
    ],
  );
  metric('drydock_service_resident_memory_bytes', 'gauge', 'Resident memory of the service process.', [
    ['', extra.rssBytes],
  ]);
  return `${out.join('\n')}\n`;
}
