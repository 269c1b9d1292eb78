import { useAppContext } from '../context.ts';
import { formatAgo, formatBytes, formatTime, percent } from '../format.ts';
import { stateLabel } from '../words.ts';

export function Overview() {
  const ctx = useAppContext();
  const s = ctx.status;
  if (!s) return <Heading busy />;
  const unhealthy = s.workloads.filter((w) => !w.ready);
  const used = s.disk.totalBytes - s.disk.freeBytes;
  const usedPct = percent(used, s.disk.totalBytes);
  return (
    <>
      <Heading />
      <div class="grid">
        <section class="card" aria-labelledby="ov-app">
          <h2 id="ov-app">Appliance</h2>
          <dl class="facts">
            <dt>Name</dt>
            <dd>{s.running?.name ?? 'not installed'}</dd>
            <dt>Version</dt>
            <dd data-testid="running-version">{s.running?.version ?? '–'}</dd>
            <dt>Installed</dt>
            <dd>{formatTime(s.running?.installedAt)}</dd>
            <dt>Kubernetes (k3s)</dt>
            <dd>{s.running?.k3sVersion ?? 'unknown'}</dd>
            <dt>Update state</dt>
            <dd>{stateLabel(s.state)}</dd>
          </dl>
        </section>
        <section class="card" aria-labelledby="ov-health">
          <h2 id="ov-health">Workload health</h2>
          {s.workloads.length === 0 ? (
            <p class="muted">No workloads reported.</p>
          ) : (
            <>
              <p class={unhealthy.length ? 'error' : 'ok'}>
                {unhealthy.length
                  ? `${unhealthy.length} of ${s.workloads.length} not ready`
                  : `All ${s.workloads.length} ready`}
              </p>
              <ul class="workloads">
                {s.workloads.map((w) => (
                  <li key={`${w.kind}/${w.namespace}/${w.name}`}>
                    <span class={`dot ${w.ready ? 'dot-ok' : 'dot-bad'}`} aria-hidden="true" />
                    <span>
                      <strong>{w.name}</strong> <span class="muted">{w.namespace}</span>
                      <br />
                      <span class="small">
                        {w.ready ? 'Ready' : 'Not ready'} · {w.message}
                      </span>
                    </span>
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
        <section class="card" aria-labelledby="ov-disk">
          <h2 id="ov-disk">Disk</h2>
          <p>
            {formatBytes(used)} used of {formatBytes(s.disk.totalBytes)} ({formatBytes(s.disk.freeBytes)}{' '}
            free)
          </p>
          <progress
            max={100}
            value={usedPct ?? 0}
            aria-label={`Disk ${usedPct ?? 0}% used`}
            class={usedPct !== null && usedPct > 90 ? 'bad' : undefined}
          />
          <p class="small muted">{s.disk.path}</p>
        </section>
        <section class="card" aria-labelledby="ov-check">
          <h2 id="ov-check">Updates</h2>
          <p>
            Last check:{' '}
            {s.lastCheck ? (
              <>
                {formatAgo(s.lastCheck.at)} ({formatTime(s.lastCheck.at)}){' '}
                {s.lastCheck.result === 'error' ? (
                  <span class="error">failed: {s.lastCheck.message}</span>
                ) : (
                  <span class="muted">{s.lastCheck.message}</span>
                )}
              </>
            ) : (
              'never'
            )}
          </p>
          <p>
            {s.available.filter((r) => r.installable).length
              ? `${s.available.filter((r) => r.installable).length} update(s) available.`
              : 'No update waiting.'}{' '}
            <a href="#/update">Software Update</a>
          </p>
        </section>
      </div>
    </>
  );
}

function Heading(props: { busy?: boolean }) {
  return (
    <>
      <h1 tabIndex={-1}>Overview</h1>
      {props.busy && <p aria-busy="true">Loading…</p>}
    </>
  );
}
