/** Plain integer, no separators (the browser tests read these). */
export function formatInt(n: number): string {
  return String(Math.round(n));
}

export function formatMs(ms: number): string {
  return ms.toFixed(1);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Local wall-clock time with milliseconds: 14:03:07.123 */
export function formatTime(unixMs: number): string {
  if (!unixMs) return '—';
  const d = new Date(unixMs);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}
