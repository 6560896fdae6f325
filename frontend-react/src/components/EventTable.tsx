import { memo } from 'react';
import type { EventResult } from '../types';
import { EventRow } from './EventRow';

export interface EventTableProps {
  /** Newest first. */
  events: EventResult[];
  /** Screen-reader caption; default "Newest N event results, newest first". */
  caption?: string;
  /** The placeholder row's text when there are no events. */
  emptyText?: string;
  /** Opens an event's details; rows are focusable and clickable when set. Keep it stable (memo). */
  onOpen?: (e: EventResult) => void;
}

function EventTableImpl({ events, caption, emptyText = 'Waiting for events…', onOpen }: EventTableProps) {
  return (
    <div className="table-wrap">
      {/* The rows are grids (styles.css): the roles keep them a table for
          assistive technologies, whatever the CSS display. */}
      <table className="events" role="table">
        <caption className="sr-only">{caption ?? `Newest ${events.length} event results, newest first`}</caption>
        <thead role="rowgroup">
          <tr role="row">
            <th scope="col" role="columnheader" className="col-id">
              ID
            </th>
            <th scope="col" role="columnheader" className="col-status">
              Status
            </th>
            <th scope="col" role="columnheader" className="col-created">
              Created
            </th>
            <th scope="col" role="columnheader" className="col-processed">
              Processed
            </th>
            <th scope="col" role="columnheader" className="col-latency num">
              Latency / deadline
            </th>
            <th scope="col" role="columnheader" className="col-reason">
              Reason
            </th>
            <th scope="col" role="columnheader" className="col-result">
              Result
            </th>
          </tr>
        </thead>
        <tbody role="rowgroup">
          {events.length === 0 ? (
            <tr className="empty" role="row">
              <td colSpan={7} role="cell">{emptyText}</td>
            </tr>
          ) : (
            // Keyed by position: under load every tick brings ~50 new events,
            // and updating the rows in place is much cheaper for the browser
            // than removing 50 rows and creating 50 (see the browser bench).
            // A row whose event did not change still skips rendering (memo).
            events.map((e, i) => <EventRow key={i} event={e} onOpen={onOpen} />)
          )}
        </tbody>
      </table>
    </div>
  );
}

/** The newest events; skips rendering while its props (the events array) are unchanged. */
export const EventTable = memo(EventTableImpl);
