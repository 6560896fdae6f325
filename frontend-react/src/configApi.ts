import { parseSettings } from './batch';
import type { SettingName, Settings, SettingsPatch } from './types';

export const CONFIG_URL = '/api/config';

export type FieldErrors = Partial<Record<SettingName, string>>;

export type PatchOutcome =
  | { ok: true; settings: Settings | null }
  | {
      ok: false;
      /** HTTP status; 0 when the server could not be reached. */
      status: number;
      /** The server's whole message (or ours when there was none). */
      error: string;
      /** Per-setting messages of a 400, by JSON name; may be empty. */
      fields: Record<string, string>;
    };

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ConfigApiOptions {
  /** Default: the global fetch, looked up at call time. */
  fetch?: FetchLike;
  url?: string;
  /** Sent as a bearer token when the server requires one for writes. */
  token?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * PATCH /api/config with the settings to change. Never throws: a 400 gives
 * the server's per-field messages, any other failure (401 once a token is
 * required, 415, 5xx, network) its whole message.
 */
export async function patchConfig(patch: SettingsPatch, options: ConfigApiOptions = {}): Promise<PatchOutcome> {
  const doFetch = options.fetch ?? ((input: string, init?: RequestInit) => globalThis.fetch(input, init));
  let res: Response;
  try {
    res = await doFetch(options.url ?? CONFIG_URL, {
      method: 'PATCH',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json',
        ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
      },
      body: JSON.stringify(patch),
      credentials: 'same-origin',
    });
  } catch (err) {
    return { ok: false, status: 0, error: `Could not reach the server: ${errorText(err)}`, fields: {} };
  }

  let text = '';
  try {
    text = await res.text();
  } catch {
    // keep the status alone
  }
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }

  if (res.ok) return { ok: true, settings: parseSettings(body) ?? null };

  const fields: Record<string, string> = {};
  if (isObj(body) && isObj(body.fields)) {
    for (const [k, v] of Object.entries(body.fields)) if (typeof v === 'string') fields[k] = v;
  }
  let error = isObj(body) && typeof body.error === 'string' ? body.error : text.trim();
  if (!error) error = res.statusText || 'request failed';
  if (res.status !== 400) error = `${error} (HTTP ${res.status}${res.status === 401 ? ', not authorized' : ''})`;
  return { ok: false, status: res.status, error, fields };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
