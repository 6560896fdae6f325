import { memo } from 'react';
import { formatMs, formatTime, resultText, shortId } from '../format';
import type { EventResult } from '../types';

const STATUS_LABEL: Record<string, string> = {
  'on-time': 'on time',
  late: 'late',
  dropped: 'dropped',
};

const dash = <span className="muted">—</span>;

/** The reason, with the kind of failure for a failed event: "failed · http-503". */
function reasonText(e: EventResult): string | undefined {
  if (e.failure) return `${e.reason ?? 'failed'} · ${e.failure}`;
  return e.reason;
}

export interface EventRowProps {
  event: EventResult;
  /** Opens the event's details (click, Enter or Space on the focused row). */
  onOpen?: (e: EventResult) => void;
}

/** One event; memoized so rows already on screen don't re-render. */
export const EventRow = memo(function EventRow({ event: e, onOpen }: EventRowProps) {
  const over = e.status !== 'dropped' && e.latencyMs > e.deadlineMs;
  const reason = reasonText(e);
  // The worker's result is untrusted: it only ever becomes text (React
  // escapes it) and a title attribute.
  const result = e.result === undefined ? null : resultText(e.result);
  return (
    <tr
      data-testid="event-row"
      className={onOpen ? `row-${e.status} openable` : `row-${e.status}`}
      tabIndex={onOpen ? 0 : undefined}
      onClick={onOpen && (() => onOpen(e))}
      onKeyDown={
        onOpen &&
        ((ev) => {
          if (ev.target !== ev.currentTarget || (ev.key !== 'Enter' && ev.key !== ' ')) return;
          ev.preventDefault(); // Space would scroll the page
          onOpen(e);
        })
      }
    >
      <td className="mono" title={e.id}>
        {shortId(e.id)}
      </td>
      <td>
        <span className={`badge status-${e.status}`}>{STATUS_LABEL[e.status] ?? e.status}</span>
      </td>
      <td className="mono">{formatTime(e.createdAt)}</td>
      <td className="mono">{formatTime(e.processedAt)}</td>
      <td className={over ? 'num over' : 'num'}>
        {formatMs(e.latencyMs)} / {e.deadlineMs} ms
      </td>
      <td className="reason" title={reason} data-testid="event-reason">
        {reason ?? dash}
      </td>
      <td className="result">
        {result ? (
          <code title={result.full === result.preview ? undefined : result.full} data-testid="event-result">
            {result.preview}
          </code>
        ) : (
          dash
        )}
      </td>
    </tr>
  );
});
