import { useEffect, useRef, useState } from 'react';
import { INITIAL_SNAPSHOT, RealtimeClient, type RealtimeOptions, type RealtimeSnapshot } from './realtimeClient';

export type { ConnectionState, RealtimeOptions, RealtimeSnapshot } from './realtimeClient';

/**
 * Live view of the server's /ws stream. Commits React state at most once per
 * animation frame, however many batches arrive in between. Options are read
 * once, when the component mounts.
 */
export function useRealtimeEvents(options?: RealtimeOptions): RealtimeSnapshot {
  const optionsRef = useRef(options);
  const [snapshot, setSnapshot] = useState<RealtimeSnapshot>(INITIAL_SNAPSHOT);

  useEffect(() => {
    const client = new RealtimeClient(optionsRef.current);
    const unsubscribe = client.subscribe(setSnapshot);
    client.start();
    return () => {
      unsubscribe();
      client.stop();
    };
  }, []);

  return snapshot;
}
