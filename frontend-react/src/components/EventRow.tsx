import { memo } from 'react';
import { formatMs, formatTime, resultText, shortId } from '../format';
import { explain } from '../glossary';
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

/** The reason's tooltip: what it means, and the kind of failure. */
function reasonTitle(e: EventResult): string | undefined {
  const text = explain(e.reason);
  if (!e.reason) return undefined;
  const s = [e.failure ? `${e.reason} · ${e.failure}` : e.reason, text].filter(Boolean).join(': ');
  return e.detail ? `${s} (${e.detail})` : s;
}

export interface EventRowProps {
  event: EventResult;
  /** Opens the event's details (click, Enter or Space on the focused row). */
  onOpen?: (e: EventResult) => void;
}

/**
 * One event; memoized so rows already on screen don't re-render. A dropped
 * event was never processed: its row says so, and how long it waited,
 * instead of a processed time and a latency.
 */
export const EventRow = memo(function EventRow({ event: e, onOpen }: EventRowProps) {
  const dropped = e.status === 'dropped';
  const over = !dropped && e.latencyMs > e.deadlineMs;
  const reason = reasonText(e);
  // The worker's result is untrusted: it only ever becomes text (React
  // escapes it) and a title attribute.
  const result = e.result === undefined ? null : resultText(e.result);
  return (
    <tr
      data-testid="event-row"
      role="row"
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
      <td role="cell" className="mono" title={e.id}>
        {shortId(e.id)}
      </td>
      <td role="cell">
        <span className={`badge status-${e.status}`}>{STATUS_LABEL[e.status] ?? e.status}</span>
      </td>
      <td role="cell" className="mono">{formatTime(e.createdAt)}</td>
      <td role="cell" className={dropped ? 'not-processed' : 'mono'}>{dropped ? 'not processed' : formatTime(e.processedAt)}</td>
      {dropped ? (
        <td
          className="num waited"
          data-testid="event-waited"
          title={e.latencyMs > 0 ? `dropped after ${formatMs(e.latencyMs)} ms in the queue, never processed` : 'dropped as it arrived, never processed'}
        >
          {e.latencyMs > 0 ? `waited ${formatMs(e.latencyMs)} ms` : 'on arrival'}
        </td>
      ) : (
        <td role="cell" className={over ? 'num over' : 'num'}>
          {formatMs(e.latencyMs)} / {e.deadlineMs} ms
        </td>
      )}
      <td role="cell" className="reason" title={reasonTitle(e)} data-testid="event-reason">
        {reason ?? dash}
        {e.detail && (
          <span className="reason-detail" data-testid="event-reason-detail">
            {e.detail}
          </span>
        )}
      </td>
      <td role="cell" className="result">
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
