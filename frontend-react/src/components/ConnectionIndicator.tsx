import { useEffect, useState } from 'react';
import type { ConnectionState } from '../realtimeClient';

interface Props {
  state: ConnectionState;
  lastBatchAt: number | null;
  missedBatches: number;
  /** Clock for "seconds since last batch" (default Date.now). */
  now?: () => number;
}

const LABEL: Record<ConnectionState, string> = {
  connecting: 'Connecting to the server…',
  live: 'Receiving live batches',
  reconnecting: 'Connection lost, reconnecting',
  offline: 'Server unreachable, still retrying',
};

/** Re-renders every second while not live, so the age keeps counting. */
function useTicker(active: boolean): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!active) return;
    const id = setInterval(() => setTick((t) => t + 1), 1000);
    return () => clearInterval(id);
  }, [active]);
}

export function ConnectionIndicator({ state, lastBatchAt, missedBatches, now = Date.now }: Props) {
  const live = state === 'live';
  useTicker(!live);
  const age = lastBatchAt === null ? null : Math.max(0, Math.floor((now() - lastBatchAt) / 1000));
  return (
    <div className={`conn conn-${state}`} title={LABEL[state]}>
      <span className="conn-dot" aria-hidden="true" />
      <span className="conn-state" data-testid="conn-state" role="status">
        {state}
      </span>
      {!live && age !== null && (
        <span className="conn-age" data-testid="conn-age">
          last batch {age} s ago
        </span>
      )}
      {missedBatches > 0 && (
        <span className="conn-missed" title="Batches skipped between reconnects (seq gaps)">
          {missedBatches} missed
        </span>
      )}
    </div>
  );
}
