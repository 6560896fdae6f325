import { useCallback, useId, useMemo, useRef, useState } from 'react';
import type { Batch, EventResult } from '../types';
import { EventDetail } from './EventDetail';
import { EventTable } from './EventTable';

export interface EventsPanelProps {
  /** Newest first (the snapshot's events). */
  events: EventResult[];
  /** The latest totals, to count what arrives while the table is paused. */
  totals: Batch['totals'] | undefined;
}

const isProblem = (e: EventResult) => e.status !== 'on-time';

interface Paused {
  events: EventResult[];
  finished: number;
  problems: number;
}

const finishedOf = (t: Batch['totals'] | undefined) => (t ? t.onTime + t.late + t.dropped : 0);
const problemsOf = (t: Batch['totals'] | undefined) => (t ? t.late + t.dropped : 0);

function sameItems(a: readonly EventResult[], b: readonly EventResult[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The filtered rows, keeping the previous array (so the memoized table does
 * not render) when the filter lets through the same events as before.
 */
function useShownEvents(source: EventResult[], problemsOnly: boolean): EventResult[] {
  const prev = useRef<EventResult[]>(source);
  return useMemo(() => {
    const next = problemsOnly ? source.filter(isProblem) : source;
    if (next !== prev.current && sameItems(prev.current, next)) return prev.current;
    prev.current = next;
    return next;
  }, [source, problemsOnly]);
}

/**
 * The event table with its tools: a "late/dropped only" filter and
 * pause/resume. While paused the table holds still; the stream and the
 * totals keep counting, and the panel says how many events finished since.
 * A row opens its event's details, which stay while the table moves on.
 */
export function EventsPanel({ events, totals }: EventsPanelProps) {
  const uid = useId();
  const [problemsOnly, setProblemsOnly] = useState(false);
  const [paused, setPaused] = useState<Paused | null>(null);
  // The opened event itself: batches never change an event once sent, so
  // the object is the snapshot of what its row showed.
  const [opened, setOpened] = useState<EventResult | null>(null);
  const close = useCallback(() => setOpened(null), []);

  const shown = useShownEvents(paused ? paused.events : events, problemsOnly);
  const newSincePause = paused
    ? Math.max(0, problemsOnly ? problemsOf(totals) - paused.problems : finishedOf(totals) - paused.finished)
    : 0;

  const togglePause = () =>
    setPaused((p) => (p ? null : { events, finished: finishedOf(totals), problems: problemsOf(totals) }));

  const caption = `${problemsOnly ? 'Late and dropped events among the newest' : 'Newest'} event results, newest first${
    paused ? ', paused' : ''
  }; click a row, or press Enter on it, for its details`;

  return (
    <section className="card card-events" aria-labelledby={`${uid}-title`}>
      <div className="events-head">
        <h2 id={`${uid}-title`}>Newest events</h2>
        <div className="table-tools">
          <label className="toggle">
            <input
              type="checkbox"
              checked={problemsOnly}
              onChange={(e) => setProblemsOnly(e.target.checked)}
              data-testid="filter-problems"
            />
            Late/dropped only
          </label>
          <button
            type="button"
            className={paused ? 'pause is-paused' : 'pause'}
            aria-pressed={paused !== null}
            onClick={togglePause}
            data-testid="pause-table"
          >
            {paused ? 'Resume' : 'Pause'}
          </button>
        </div>
      </div>
      {paused && (
        <p className="paused-note" data-testid="paused-info">
          paused — {newSincePause} new {newSincePause === 1 ? 'event' : 'events'}
          {problemsOnly ? ' (late or dropped)' : ''}
        </p>
      )}
      {opened && <EventDetail event={opened} onClose={close} />}
      <EventTable
        events={shown}
        onOpen={setOpened}
        caption={caption}
        emptyText={
          problemsOnly && (paused ? paused.events : events).length > 0
            ? 'No late or dropped events among the newest.'
            : 'Waiting for events…'
        }
      />
    </section>
  );
}
