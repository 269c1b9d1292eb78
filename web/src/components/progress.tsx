// The live progress of the current update or rollback, drawn only from the service's state and
// events, so a reload shows the same picture.
import { formatBytes, percent } from '../format.ts';
import { type Live, type StepStatus, stepStatuses, UPDATE_STEPS } from '../live.ts';
import type { HistoryEntry, ProgressStep } from '../types.ts';

const STATUS_WORDS: Record<StepStatus, string> = {
  pending: 'waiting',
  active: 'in progress',
  done: 'done',
  failed: 'failed',
  skipped: 'skipped',
};

function StepRow(props: {
  step: ProgressStep;
  label: string;
  status: StepStatus;
  progress?: { done: number; total: number | null } | undefined;
  bytes?: boolean;
}) {
  const p = props.progress;
  const pct = p ? percent(p.done, p.total) : null;
  return (
    <li class={`step step-${props.status}`} data-step={props.step} data-status={props.status}>
      <span class="step-icon" aria-hidden="true">
        {props.status === 'done'
          ? '✓'
          : props.status === 'failed'
            ? '✕'
            : props.status === 'active'
              ? '●'
              : '○'}
      </span>
      <span class="step-body">
        <span class="step-label">
          {props.label} <span class="visually-hidden">({STATUS_WORDS[props.status]})</span>
        </span>
        {props.status === 'active' && p && (
          <>
            <span class="small muted step-detail">
              {props.bytes
                ? `${formatBytes(p.done)}${p.total ? ` of ${formatBytes(p.total)}` : ''}`
                : `${p.done}${p.total ? ` of ${p.total}` : ''}`}
              {pct !== null ? ` (${pct}%)` : ''}
            </span>
            <progress max={100} value={pct ?? undefined} aria-label={`${props.label} progress`} />
          </>
        )}
      </span>
    </li>
  );
}

export function UpdateSteps(props: { live: Live }) {
  const { live } = props;
  const statuses = stepStatuses(live);
  const rollingBack = live.state === 'rolling-back' || live.state === 'rolled-back';
  return (
    <ol class="steps">
      {UPDATE_STEPS.map((s, i) => (
        <StepRow
          key={s.key}
          step={s.key}
          label={s.label}
          status={statuses[i] ?? 'pending'}
          progress={
            s.key === 'apply'
              ? (live.steps.apply ?? live.steps.import)
              : s.key === 'verify'
                ? (live.steps.verify ?? live.steps.stage)
                : live.steps[s.key]
          }
          bytes={s.key === 'download'}
        />
      ))}
      {rollingBack && (
        <StepRow
          step="restore"
          label="Restore the previous release"
          status={live.state === 'rolled-back' ? 'done' : 'active'}
          progress={live.steps.restore}
        />
      )}
    </ol>
  );
}

export function RollbackSteps(props: { live: Live }) {
  return (
    <ol class="steps">
      <StepRow
        step="restore"
        label="Restore the previous release"
        status={
          props.live.state === 'rolling-back' ? 'active' : props.live.state === 'failed' ? 'failed' : 'done'
        }
        progress={props.live.steps.restore ?? props.live.steps.apply}
      />
      <StepRow
        step="health"
        label="Wait until healthy"
        status={
          props.live.state === 'rolling-back' ? 'pending' : props.live.state === 'failed' ? 'pending' : 'done'
        }
      />
    </ol>
  );
}

/** Plain-words account of an automatic rollback. */
export function AutoRollbackAccount(props: { entry: HistoryEntry }) {
  const e = props.entry;
  return (
    <div class="callout warn" data-testid="auto-rollback">
      <p>
        <strong>
          {e.toVersion} was rolled back automatically
          {e.fromVersion ? `; the appliance runs ${e.fromVersion} again` : ''}.
        </strong>
      </p>
      <p>Why: {e.reason ?? 'the new release did not become healthy in time.'}</p>
      <p class="small">
        Nothing else is needed: the previous release and its data were restored. Before trying {e.toVersion}{' '}
        again, send the vendor a support bundle (Support page).
      </p>
    </div>
  );
}
