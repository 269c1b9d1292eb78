// Streams a stack's events as they happen: polls DescribeStackEvents (newest first, paged), keeps
// the ids it has seen and hands new events over oldest first. Only events of the operation we
// started count: those newer than `afterEventId` (the newest event before it; by id, not by clock,
// so a skewed local clock cannot hide events).
import {
  type CloudFormationClient,
  DescribeStackEventsCommand,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';

export interface EventWatcher {
  /** one last poll, then stop */
  stop(): Promise<void>;
  /** every event seen, oldest first */
  events: StackEvent[];
}

export function watchStackEvents(opts: {
  cfn: CloudFormationClient;
  stackId: string;
  afterEventId?: string;
  onEvent: (e: StackEvent) => void;
  pollMs: number;
}): EventWatcher {
  const seen = new Set<string>(opts.afterEventId ? [opts.afterEventId] : []);
  const events: StackEvent[] = [];
  let stopped = false;
  let polling: Promise<void> = Promise.resolve();
  // the pause between polls ends early when the watcher is stopped
  let wake: () => void = () => {};
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const poll = async () => {
    const fresh: StackEvent[] = [];
    let next: string | undefined;
    outer: do {
      const page = await opts.cfn.send(
        new DescribeStackEventsCommand({ StackName: opts.stackId, NextToken: next }),
      );
      for (const e of page.StackEvents ?? []) {
        if (!e.EventId || seen.has(e.EventId)) break outer;
        fresh.push(e);
      }
      next = page.NextToken;
    } while (next);
    for (const e of fresh.reverse()) {
      seen.add(e.EventId!);
      events.push(e);
      opts.onEvent(e);
    }
  };
  const loop = (async () => {
    while (!stopped) {
      polling = poll().catch(() => {
        // a failed poll is retried on the next tick; the waiter decides success or failure
      });
      await polling;
      if (!stopped) await pause(opts.pollMs);
    }
  })();
  return {
    events,
    async stop() {
      stopped = true;
      wake();
      await loop;
      await poll().catch(() => {});
    },
  };
}

/** The id of the stack's newest event, the boundary for a watcher started before an operation. */
export async function newestEventId(cfn: CloudFormationClient, stackId: string): Promise<string | undefined> {
  const page = await cfn.send(new DescribeStackEventsCommand({ StackName: stackId }));
  return page.StackEvents?.[0]?.EventId;
}

export function formatEvent(e: StackEvent): string {
  const time = e.Timestamp ? e.Timestamp.toISOString().slice(11, 19) : '--:--:--';
  const reason = e.ResourceStatusReason ? `  ${e.ResourceStatusReason}` : '';
  return `${time}  ${(e.ResourceStatus ?? '').padEnd(28)} ${(e.ResourceType ?? '').padEnd(28)} ${e.LogicalResourceId ?? ''}${reason}`;
}
