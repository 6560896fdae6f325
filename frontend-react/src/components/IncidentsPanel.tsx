import { memo, useEffect, useState } from 'react';
import type { FetchLike } from '../configApi';
import { formatTime } from '../format';
import { explain } from '../glossary';
import { fetchIncidents } from '../historyApi';
import type { Incident } from '../types';

export interface IncidentsPanelProps {
  /**
   * The newest batch's health verdict: a change means an incident began or
   * ended, so the list is fetched again at once.
   */
  health: string | undefined;
  /** The newest batch's time (unix ms), for the duration of ongoing incidents. */
  now: number;
  /** For tests: the fetch used for GET /api/incidents. */
  fetch?: FetchLike;
  /** How often the list is fetched besides health changes (default 10 s). */
  pollMs?: number;
  /** How many incidents are shown (default 20). */
  max?: number;
}

const KIND_LABEL: Record<Incident['kind'], string> = {
  health: 'health',
  restart: 'restart',
  'node-lost': 'node lost',
  'node-rejoined': 'node rejoined',
};

/** A duration as "4 s", "3 min 20 s", "2 h 5 min". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

type State = { kind: 'loading' } | { kind: 'ok'; incidents: Incident[] } | { kind: 'failed'; error: string };

/**
 * The incidents (GET /api/incidents), newest first. Memoized: the app gives
 * it now to the second (durations are shown in seconds), so it renders at
 * most once a second from the stream, not at every batch.
 */
export const IncidentsPanel = memo(function IncidentsPanel({ health, now, fetch, pollMs = 10_000, max = 20 }: IncidentsPanelProps) {
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const id = setInterval(() => setTick((t) => t + 1), pollMs);
    return () => clearInterval(id);
  }, [pollMs]);

  useEffect(() => {
    let current = true;
    void fetchIncidents(fetch).then((res) => {
      if (!current) return;
      setState(res.ok ? { kind: 'ok', incidents: res.data } : { kind: 'failed', error: res.status ? `HTTP ${res.status}` : res.error });
    });
    return () => {
      current = false;
    };
  }, [fetch, health, tick]);

  return (
    <section className="card card-incidents" aria-labelledby="incidents-title" data-testid="incidents">
      <h2 id="incidents-title">Incidents</h2>
      {state.kind === 'loading' && <p className="muted">Loading…</p>}
      {state.kind === 'failed' && (
        <p className="muted" data-testid="incidents-unavailable">
          The server keeps no incidents ({state.error}).
        </p>
      )}
      {state.kind === 'ok' && state.incidents.length === 0 && <p className="muted">None: health has been ok throughout.</p>}
      {state.kind === 'ok' && state.incidents.length > 0 && (
        <div className="table-scroll">
          <table className="incidents">
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">Status</th>
                <th scope="col">Start</th>
                <th scope="col" className="num">
                  Duration
                </th>
                <th scope="col" className="num">
                  Worst miss
                </th>
                <th scope="col">Top reasons</th>
              </tr>
            </thead>
            <tbody>
              {state.incidents.slice(0, max).map((i) => (
                <tr key={`${i.id}-${i.start}`} data-testid="incident-row" data-status={i.status}>
                  <td>
                    {KIND_LABEL[i.kind]}
                    {i.node && <span className="muted mono"> {i.node}</span>}
                  </td>
                  <td>
                    <span className={`badge health-${i.status}`} title={explain(i.status)}>
                      {i.status}
                    </span>
                  </td>
                  <td className="mono">{formatTime(i.start)}</td>
                  <td className="num" data-testid="incident-duration">
                    {i.end === null ? <span className="ongoing">ongoing ({formatDuration(now - i.start)})</span> : formatDuration(i.end - i.start)}
                  </td>
                  <td className="num">{(i.worstMissRate * 100).toFixed(1)} %</td>
                  <td className="reasons-cell">
                    {i.topReasons.length === 0
                      ? '—'
                      : i.topReasons.map((r, k) => (
                          <span key={r.reason} className="reason-name" title={explain(r.reason)}>
                            {k > 0 ? ', ' : ''}
                            {r.reason} {r.count}
                          </span>
                        ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
});
