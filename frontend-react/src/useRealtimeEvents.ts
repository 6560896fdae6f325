import { useState, useSyncExternalStore } from 'react';
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
 * The external store behind useRealtime: React's subscribe starts a client
 * and its unsubscribe stops it, since a RealtimeClient's stop is final and
 * StrictMode subscribes, unsubscribes and subscribes again.
 */
interface RealtimeStore {
  series: SeriesModel;
  subscribe(onChange: () => void): () => void;
  getSnapshot(): RealtimeSnapshot;
}

function realtimeStore(options: RealtimeOptions | undefined): RealtimeStore {
  const series = options?.series ?? new SeriesModel();
  let client: RealtimeClient | null = null;
  return {
    series,
    subscribe(onChange) {
      const c = new RealtimeClient({ ...options, series });
      client = c;
      const unsubscribe = c.subscribe(onChange);
      c.start();
      return () => {
        unsubscribe();
        c.stop();
      };
    },
    // The client's snapshot changes only in its frame callback, which is
    // what keeps React to one commit per animation frame.
    getSnapshot: () => client?.getSnapshot() ?? INITIAL_SNAPSHOT,
  };
}

/**
 * Live view of the server's /ws stream plus the chart history. Commits
 * React state at most once per animation frame, however many batches arrive
 * in between; the charts are updated in the same frame without React.
 * Options are read once, when the component mounts.
 */
export function useRealtime(options?: RealtimeOptions): RealtimeView {
  const [store] = useState(() => realtimeStore(options));
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot);
  return { snapshot, series: store.series };
}

/** useRealtime without the chart history. */
export function useRealtimeEvents(options?: RealtimeOptions): RealtimeSnapshot {
  return useRealtime(options).snapshot;
}
