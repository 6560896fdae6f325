import { useEffect, useRef, useState } from 'react';
import { INITIAL_SNAPSHOT, RealtimeClient, type RealtimeOptions, type RealtimeSnapshot } from './realtimeClient';
import { SeriesModel } from './series';

export type { ConnectionState, RealtimeOptions, RealtimeSnapshot } from './realtimeClient';

export interface RealtimeView {
  snapshot: RealtimeSnapshot;
  /**
   * The chart history, the same object for the component's lifetime; it
   * outlives the client (StrictMode's remount makes a second client that
   * feeds the same history). Charts subscribe to it directly.
   */
  series: SeriesModel;
}

/**
 * Live view of the server's /ws stream plus the chart history. Commits
 * React state at most once per animation frame, however many batches arrive
 * in between; the charts are updated in the same frame without React.
 * Options are read once, when the component mounts.
 */
export function useRealtime(options?: RealtimeOptions): RealtimeView {
  const optionsRef = useRef(options);
  const [series] = useState(() => options?.series ?? new SeriesModel());
  const [snapshot, setSnapshot] = useState<RealtimeSnapshot>(INITIAL_SNAPSHOT);

  useEffect(() => {
    const client = new RealtimeClient({ ...optionsRef.current, series });
    const unsubscribe = client.subscribe(setSnapshot);
    client.start();
    return () => {
      unsubscribe();
      client.stop();
    };
  }, [series]);

  return { snapshot, series };
}

/** useRealtime without the chart history. */
export function useRealtimeEvents(options?: RealtimeOptions): RealtimeSnapshot {
  return useRealtime(options).snapshot;
}
