// Live update progress from the service's Server-Sent Events. The page keeps no progress of its own:
// what it shows comes from the events (and from /status at load), so a reload shows the same thing.
import { ACTIVE_STATES } from '../../updater/engine/machine.ts';
import type { BoxStatus, ProgressStep, UpdateEvent, UpdateState } from './types.ts';

interface StepProgress {
  done: number;
  total: number | null;
}

export interface Live {
  state: UpdateState;
  target: { name: string; version: string } | null;
  reason: string | null;
  /** latest progress per step */
  steps: Partial<Record<ProgressStep, StepProgress>>;
  /** the step the last progress event was about */
  current: ProgressStep | null;
  /** the furthest update step reached in this operation (to mark a failed step after the fact) */
  reached: number;
  /** what the current (or last) operation is: an update (which may roll back by itself) or an admin's rollback */
  operation: 'update' | 'rollback' | null;
  logs: { level: string; message: string; at: string }[];
  /** the event stream broke after it was open (the banner says progress may lag) */
  dropped: boolean;
  /** the stream's snapshot arrived: from then on its events, not /status reads, drive the state */
  streamed: boolean;
  /** true once anything came from the service (status or events) */
  known: boolean;
}

/** States in which an update (or rollback) is running: every other button waits. */
const BUSY_STATES: readonly UpdateState[] = [...ACTIVE_STATES];

export function isBusy(state: UpdateState): boolean {
  return BUSY_STATES.includes(state);
}

/** The steps of an update, in order, as the admin sees them. */
export const UPDATE_STEPS: { key: ProgressStep; label: string }[] = [
  { key: 'download', label: 'Download' },
  { key: 'verify', label: 'Verify signatures and checksums' },
  { key: 'snapshot', label: 'Take a snapshot' },
  { key: 'apply', label: 'Apply the new release' },
  { key: 'health', label: 'Wait until healthy' },
];

/** Which update step a state (plus the current progress step) stands for. */
function stepIndexOf(state: UpdateState, current: ProgressStep | null): number {
  switch (state) {
    case 'downloading':
      return current === 'verify' || current === 'stage' ? 1 : 0;
    case 'staged':
      return 2; // downloaded and verified; the snapshot is next
    case 'snapshotting':
      return 2;
    case 'applying':
      return 3;
    case 'verifying-health':
      return 4;
    case 'committed':
      return 5;
    default:
      return -1;
  }
}

export function initialLive(): Live {
  return {
    state: 'idle',
    target: null,
    reason: null,
    steps: {},
    current: null,
    reached: -1,
    operation: null,
    logs: [],
    dropped: false,
    streamed: false,
    known: false,
  };
}

/**
 * Seeds the live view from a status: the stream's snapshot (`fromStream`, at every (re)connect) or a
 * GET /status. While the stream is up, its events are newer than any /status answer that crosses
 * them, so a /status read then changes nothing here (the screens still take its other fields).
 */
export function fromStatus(live: Live, status: BoxStatus, fromStream = false): Live {
  if (!fromStream && live.streamed && !live.dropped) return live.known ? live : { ...live, known: true };
  const next: Live = {
    ...live,
    state: status.state,
    target: status.target,
    reason: status.lastError?.message ?? live.reason,
    known: true,
    streamed: live.streamed || fromStream,
  };
  if (status.progress) {
    next.steps = {
      ...live.steps,
      [status.progress.step]: { done: status.progress.done, total: status.progress.total },
    };
    next.current = status.progress.step;
  }
  const sameTarget = live.target?.version === status.target?.version;
  if (!live.operation || !sameTarget) {
    // after a reload: the history says whether the last operation was an admin's rollback
    const h = status.history[0];
    next.operation = status.state === 'idle' ? null : h?.kind === 'rollback' ? 'rollback' : 'update';
  }
  next.reached = Math.max(sameTarget ? live.reached : -1, stepIndexOf(next.state, next.current));
  return next;
}

/** Applies one event; returns the same object when nothing visible changed. */
export function applyEvent(live: Live, ev: UpdateEvent): Live {
  if (ev.type === 'state') {
    const newOperation =
      (ev.state === 'downloading' || ev.state === 'snapshotting' || ev.state === 'rolling-back') &&
      !isBusy(live.state);
    const steps = newOperation ? {} : live.steps;
    const current = newOperation ? null : live.current;
    const reached = newOperation ? -1 : live.reached;
    const operation = newOperation ? (ev.state === 'rolling-back' ? 'rollback' : 'update') : live.operation;
    return {
      ...live,
      operation,
      logs: newOperation ? [] : live.logs,
      state: ev.state,
      target: ev.target,
      reason: ev.reason ?? (newOperation || ev.state === 'committed' ? null : live.reason),
      steps,
      current,
      reached: Math.max(reached, stepIndexOf(ev.state, current)),
      known: true,
    };
  }
  if (ev.type === 'progress') {
    return {
      ...live,
      steps: { ...live.steps, [ev.step]: { done: ev.done, total: ev.total } },
      current: ev.step,
      reached: Math.max(live.reached, stepIndexOf(live.state, ev.step)),
      known: true,
    };
  }
  const logs = [...live.logs, { level: ev.level, message: ev.message, at: ev.at }].slice(-50);
  return { ...live, logs };
}

export type StepStatus = 'pending' | 'active' | 'done' | 'failed' | 'skipped';

/** The status of each update step for the progress list. */
export function stepStatuses(live: Live): StepStatus[] {
  const idx = stepIndexOf(live.state, live.current);
  return UPDATE_STEPS.map((_, i) => {
    if (live.state === 'committed') return 'done';
    if (live.state === 'rolling-back' || live.state === 'rolled-back' || live.state === 'failed') {
      const failedAt = live.reached >= 0 ? live.reached : -1;
      if (i < failedAt) return 'done';
      if (i === failedAt) return 'failed';
      return 'pending';
    }
    if (idx < 0) return 'pending';
    if (i < idx) return 'done';
    if (i === idx) return live.state === 'staged' ? 'pending' : 'active';
    return 'pending';
  });
}

/** Opens the event stream; reconnects on its own (EventSource does) and reports connectivity. */
export function connectEvents(handlers: {
  onEvent: (ev: UpdateEvent) => void;
  /** the service's first event on every (re)connect: the whole current status */
  onSnapshot: (status: BoxStatus) => void;
  onOpen: () => void;
  onDrop: () => void;
}): () => void {
  const es = new EventSource('/api/v1/events', { withCredentials: true });
  const handle = (e: MessageEvent<string>) => {
    try {
      const ev = JSON.parse(e.data) as UpdateEvent;
      if (ev && typeof ev === 'object' && typeof ev.type === 'string') handlers.onEvent(ev);
    } catch {
      // a comment or keep-alive line; nothing to show
    }
  };
  es.onmessage = handle;
  // the service names its events after their type
  for (const name of ['state', 'progress', 'log']) es.addEventListener(name, handle as EventListener);
  es.addEventListener('snapshot', ((e: MessageEvent<string>) => {
    try {
      const body = JSON.parse(e.data) as { status?: BoxStatus };
      if (body?.status) handlers.onSnapshot(body.status);
    } catch {
      // malformed snapshot: the next /status read fills in
    }
  }) as EventListener);
  es.onopen = handlers.onOpen;
  es.onerror = handlers.onDrop;
  return () => es.close();
}
