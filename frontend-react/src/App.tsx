import { EventTable } from './components/EventTable';
import { StatsBar } from './components/StatsBar';
import { useRealtimeEvents, type RealtimeOptions } from './useRealtimeEvents';

export interface AppProps {
  /** For tests: injected WebSocket, clock, rAF… */
  realtime?: RealtimeOptions;
}

export function App({ realtime }: AppProps) {
  const { state, latest, events, lastBatchAt, missedBatches } = useRealtimeEvents(realtime);
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
        <section className="card card-events" aria-labelledby="events-title">
          <h2 id="events-title">Newest events</h2>
          <EventTable events={events} />
        </section>
      </main>
    </div>
  );
}
