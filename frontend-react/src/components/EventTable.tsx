import { memo } from 'react';
import type { EventResult } from '../types';
import { EventRow } from './EventRow';

export interface EventTableProps {
  /** Newest first. */
  events: EventResult[];
}

function EventTableImpl({ events }: EventTableProps) {
  return (
    <div className="table-wrap">
      <table className="events">
        <caption className="sr-only">Newest {events.length} event results, newest first</caption>
        <thead>
          <tr>
            <th scope="col">ID</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">Processed</th>
            <th scope="col" className="num">
              Latency / deadline
            </th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {events.length === 0 ? (
            <tr className="empty">
              <td colSpan={6}>Waiting for events…</td>
            </tr>
          ) : (
            events.map((e) => <EventRow key={e.id} event={e} />)
          )}
        </tbody>
      </table>
    </div>
  );
}

/** The newest events; skips rendering while its events array is unchanged. */
export const EventTable = memo(EventTableImpl);
