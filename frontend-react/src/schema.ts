import type { FetchLike } from './configApi';

export const SCHEMA_URL = '/api/config/schema';

/**
 * One setting as GET /api/config/schema describes it (Go config.Spec): the
 * settings form is built from these, so its labels, units, ranges and
 * choices are the server's.
 */
export interface SettingSpec {
  /** The JSON name, in Settings and in a patch. */
  name: string;
  flag: string;
  env: string;
  label: string;
  type: 'number' | 'integer' | 'string' | 'boolean';
  unit?: string;
  min?: number;
  max?: number;
  /** What 0 stands for ("off"), if anything special. */
  zeroMeans?: string;
  /** The values a string takes, the default first. */
  choices?: string[];
  maxLength?: number;
  /** A valid value of free text. */
  example?: string;
  default: unknown;
  /** The default instead with the user's worker (http, nats). */
  workerDefault?: unknown;
  help: string;
  /** A few words for a form, for a setting without range. */
  hint?: string;
  /** Changes while the server runs (PATCH /api/config). */
  live: boolean;
  /** In a cluster, applies to each node on its own. */
  perNode?: boolean;
  /** In a cluster, cannot change live. */
  fixedInCluster?: boolean;
}

export interface ConfigSchema {
  settings: SettingSpec[];
  maxPatchBytes: number;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isSpec(v: unknown): v is SettingSpec {
  return (
    isObj(v) &&
    typeof v.name === 'string' &&
    typeof v.label === 'string' &&
    typeof v.type === 'string' &&
    typeof v.live === 'boolean' &&
    (v.choices === undefined || (Array.isArray(v.choices) && v.choices.every((c) => typeof c === 'string'))) &&
    (v.min === undefined || typeof v.min === 'number') &&
    (v.max === undefined || typeof v.max === 'number')
  );
}

/** The schema, if v is one: specs that are malformed are left out. */
export function parseSchema(v: unknown): ConfigSchema | null {
  if (!isObj(v) || !Array.isArray(v.settings)) return null;
  return { settings: v.settings.filter(isSpec), maxPatchBytes: typeof v.maxPatchBytes === 'number' ? v.maxPatchBytes : 0 };
}

/**
 * GET /api/config/schema. Throws an Error saying what went wrong (network,
 * status, not a schema).
 */
export async function fetchSchema(options: { fetch?: FetchLike; url?: string } = {}): Promise<ConfigSchema> {
  const doFetch = options.fetch ?? ((input: string, init?: RequestInit) => globalThis.fetch(input, init));
  const res = await doFetch(options.url ?? SCHEMA_URL, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  if (!res.ok) throw new Error(`GET ${options.url ?? SCHEMA_URL}: HTTP ${res.status}`);
  const schema = parseSchema(await res.json());
  if (!schema) throw new Error('the server sent no settings schema');
  return schema;
}

/** A number's range as the form shows it: "0 (off) to 1000000". */
export function rangeHint(spec: SettingSpec): string {
  let s = '';
  if (spec.min !== undefined) s = spec.min === 0 && spec.zeroMeans ? `0 (${spec.zeroMeans})` : String(spec.min);
  if (spec.max !== undefined) s += ` to ${spec.max}`;
  else if (spec.min !== undefined) s += ' or more';
  return s;
}
