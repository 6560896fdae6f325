import { useCallback } from 'react';
import { Charts } from './charts/Charts';
import { patchConfig, type FetchLike } from './configApi';
import { ControlsPanel } from './components/ControlsPanel';
import { EventsPanel } from './components/EventsPanel';
import { IncidentsPanel } from './components/IncidentsPanel';
import { Legend } from './components/Legend';
import { NodeList } from './components/NodeList';
import { StatsBar } from './components/StatsBar';
import type { SettingsPatch } from './types';
import { useRealtime, type RealtimeOptions } from './useRealtimeEvents';

export interface AppProps {
  /** For tests: injected WebSocket, clock, rAF… */
  realtime?: RealtimeOptions;
  /** For tests: the fetch used for PATCH /api/config, GET /api/config/schema, GET /api/history and GET /api/incidents. */
  fetch?: FetchLike;
}

export function App({ realtime, fetch }: AppProps) {
  const { snapshot, series } = useRealtime(realtime);
  const { state, latest, events, lastBatchAt, missedBatches } = snapshot;
  const patch = useCallback((p: SettingsPatch) => patchConfig(p, { fetch }), [fetch]);
  const nodes = latest?.nodes;
  return (
    <div className="app">
      <header className="app-header">
        <h1>ontime — live dashboard</h1>
        <a className="back-link" href="/">
          Server-rendered view
        </a>
      </header>
      <main>
        <StatsBar latest={latest} state={state} lastBatchAt={lastBatchAt} missedBatches={missedBatches} />
        {nodes && <NodeList nodes={nodes} at={latest?.at ?? 0} />}
        <Charts series={series} fetch={fetch} />
        <IncidentsPanel health={latest?.health.status} now={Math.floor((latest?.at ?? 0) / 1000) * 1000} fetch={fetch} />
        <div className="lower">
          <EventsPanel events={events} totals={latest?.totals} />
          <ControlsPanel inForce={latest?.config ?? null} cluster={nodes !== undefined} patch={patch} fetch={fetch} />
        </div>
        <Legend />
      </main>
    </div>
  );
}
