// What each status and drop reason means, in one sentence each: the legend
// block and the tooltips wherever a status or reason is shown. The
// server-rendered page says the same (views/glossary.go).

/** The event statuses, in the order the legend lists them. */
export const STATUSES: readonly { key: string; label: string; text: string }[] = [
  { key: 'on-time', label: 'on time', text: 'Processed and finished before its deadline.' },
  { key: 'late', label: 'late', text: 'Processed, but finished after its deadline.' },
  { key: 'dropped', label: 'dropped', text: 'Never processed to the end; the reason says why.' },
];

/** The reasons, in the order the legend lists them. */
export const REASONS: readonly { key: string; text: string }[] = [
  { key: 'queue-full', text: 'The queue in front of the workers was full when the event arrived.' },
  { key: 'expired', text: 'Its deadline passed while it waited in the queue; it was never started.' },
  { key: 'shed', text: 'With more events waiting than free workers, it was less likely to finish in time than the others, so it was not started.' },
  { key: 'shutdown', text: 'The server stopped before the event could finish.' },
  { key: 'failed', text: 'The processor failed; the kind of failure (such as http-503 or connect) follows.' },
  { key: 'cancelled', text: 'A late event whose processing was cancelled at its deadline.' },
  { key: 'bus-unavailable', text: 'Cluster: the event could not be handed to NATS (connection down, buffer full).' },
  { key: 'node-lost', text: 'Cluster: it was on a node that stopped reporting, or sent to it and never taken.' },
  { key: 'bus', text: 'Cluster: it was published on the event bus but no node took it in (at most once).' },
];

/** The health verdicts. */
export const HEALTH: readonly { key: string; text: string }[] = [
  { key: 'ok', text: 'Everything finished was on time and the queue is short.' },
  { key: 'degraded', text: 'Events were late or failed (a failing worker), were dropped while a worker was free, or the queue is at least half full. The cause beside the badge says which.' },
  { key: 'overloaded', text: 'Events were dropped for want of capacity while every worker was busy, or the queue is at least 90 % full.' },
];

const byKey = new Map<string, string>([...STATUSES, ...REASONS, ...HEALTH].map((e) => [e.key, e.text]));

/** The one-sentence explanation of a status, reason or verdict; '' when unknown. */
export function explain(key: string | undefined): string {
  return (key && byKey.get(key)) || '';
}

/** A cluster node's statuses besides the health verdicts. */
export const NODE_STATUSES: readonly { key: string; text: string }[] = [
  { key: 'joining', text: 'Its first report arrived; it counts from the next tick on.' },
  { key: 'lost', text: 'It has not reported for a few ticks; after 10 s, its work is counted as node-lost.' },
  { key: 'left', text: 'It stopped on purpose and said so; nothing of it is lost.' },
];

for (const e of NODE_STATUSES) byKey.set(e.key, e.text);
