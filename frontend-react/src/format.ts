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

/**
 * The host (and port) of a worker URL, fit to show; '' when there is no
 * URL or it does not parse.
 */
export function hostOf(url: string): string {
  if (!url) return '';
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

/** How many characters of a result an event row shows. */
export const RESULT_PREVIEW_CHARS = 60;

/**
 * A worker's result as compact JSON: `full` is all of it, `preview` at most
 * `max` characters (cut with an ellipsis). Both are plain text, for text
 * nodes and attributes only: the result is untrusted.
 */
export function resultText(result: unknown, max = RESULT_PREVIEW_CHARS): { preview: string; full: string } {
  let full: string;
  try {
    full = JSON.stringify(result) ?? '';
  } catch {
    full = '';
  }
  if (full.length <= max) return { preview: full, full };
  const chars = [...full]; // by code point, so a cut never splits a surrogate pair
  const preview = chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : full;
  return { preview, full };
}

/**
 * Any JSON value pretty-printed (two-space indent), for a text node only:
 * payloads and results are untrusted.
 */
export function prettyJson(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? '';
  } catch {
    return '';
  }
}

/** The size in bytes of a JSON value as compact UTF-8 JSON (as it travels in a batch). */
export function jsonBytes(value: unknown): number {
  let text: string;
  try {
    text = JSON.stringify(value) ?? '';
  } catch {
    return 0;
  }
  return new TextEncoder().encode(text).length;
}
