// Support: the support bundle (logs, state, history, redacted config) and the audit log.
import { useEffect, useState } from 'preact/hooks';
import { request } from '../api.ts';
import { formatTime } from '../format.ts';
import type { AuditEntry } from '../types.ts';

export function Support() {
  const [audit, setAudit] = useState<AuditEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    request<AuditEntry[] | { entries?: AuditEntry[] }>('GET', '/audit?limit=50')
      .then((a) => setAudit(Array.isArray(a) ? a : (a?.entries ?? [])))
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  }, []);

  return (
    <>
      <h1 tabIndex={-1}>Support</h1>
      <section class="card" aria-labelledby="sup-bundle">
        <h2 id="sup-bundle">Support bundle</h2>
        <p>
          One file with the updater’s logs, the update state and history, and the configuration with secrets
          removed. Send it to your vendor when something goes wrong.
        </p>
        <div class="actions left">
          <a class="button primary" href="/api/v1/support-bundle" download>
            Download support bundle
          </a>
        </div>
      </section>
      <section class="card" aria-labelledby="sup-audit">
        <h2 id="sup-audit">Audit log</h2>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {!audit && !error && <p aria-busy="true">Loading…</p>}
        {audit && audit.length === 0 && <p class="muted">Nothing recorded yet.</p>}
        {audit && audit.length > 0 && (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">Action</th>
                  <th scope="col">Result</th>
                </tr>
              </thead>
              <tbody>
                {audit.map((a) => (
                  <tr key={a.id}>
                    <td>{formatTime(a.at)}</td>
                    <td>
                      {a.user} <span class="muted small">{a.from}</span>
                    </td>
                    <td>
                      {a.action}
                      {a.detail && <span class="muted small"> {a.detail}</span>}
                    </td>
                    <td class={a.result === 'ok' ? 'ok' : 'error'}>{a.result}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
