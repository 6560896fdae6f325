import { memo, useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react';
import { patchConfig, type ConfigApiOptions, type FetchLike, type PatchOutcome } from '../configApi';
import { fetchSchema, rangeHint, type ConfigSchema } from '../schema';
import type { SettingName, Settings, SettingsPatch } from '../types';

/** One setting of the form, as the server's schema describes it. */
interface Field {
  name: SettingName;
  label: string;
  kind: 'number' | 'choice' | 'text';
  unit?: string;
  /** the range of a number, a few words on text */
  hint: string;
  choices: readonly string[];
  /** an example of valid text */
  placeholder?: string;
  inputMode: 'url' | 'text';
  /** in a cluster, applies to each node on its own */
  perNode: boolean;
  /** in a cluster, the server refuses to change it */
  fixedInCluster: boolean;
}

/** The form's fields: the schema's live settings, in its order. */
export function fieldsOf(schema: ConfigSchema): Field[] {
  return schema.settings
    .filter((s) => s.live)
    .map((s) => ({
      name: s.name as SettingName,
      label: s.label,
      kind: s.choices?.length ? 'choice' : s.type === 'number' || s.type === 'integer' ? 'number' : 'text',
      unit: s.unit,
      hint: s.choices?.length ? (s.hint ?? '') : s.type === 'number' || s.type === 'integer' ? rangeHint(s) : (s.hint ?? ''),
      choices: s.choices ?? [],
      placeholder: s.example,
      inputMode: /^https?:\/\//.test(s.example ?? '') ? 'url' : 'text',
      perNode: s.perNode ?? false,
      fixedInCluster: s.fixedInCluster ?? false,
    }));
}

type Draft = Partial<Record<SettingName, string>>;
type Errors = Partial<Record<SettingName, string>>;

export interface ControlsPanelProps {
  /** The settings in force (the latest batch's config); null when unknown. */
  inForce: Settings | null;
  /**
   * A cluster (the batches list nodes): workers and queue are per node, and
   * the tick, which the server refuses to change in a cluster, is not
   * offered.
   */
  cluster?: boolean;
  /** Sends a patch; default PATCH /api/config with the global fetch. */
  patch?: (p: SettingsPatch, o?: ConfigApiOptions) => Promise<PatchOutcome>;
  /** Fetches GET /api/config/schema, which the form is built from; default the global fetch. */
  fetch?: FetchLike;
}

const TOKEN_KEY = 'ontime-token';

/** The write token, kept for this tab only (sessionStorage), never in the URL. */
function loadToken(): string {
  try {
    return globalThis.sessionStorage?.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

function saveToken(token: string) {
  try {
    if (token) globalThis.sessionStorage?.setItem(TOKEN_KEY, token);
    else globalThis.sessionStorage?.removeItem(TOKEN_KEY);
  } catch {
    // storage unavailable (private mode): the token lives in the form only
  }
}

const show = (v: Settings[SettingName] | undefined): string => (v === undefined ? '' : String(v));

/** Whether the draft text means the same as the value in force. */
function sameValue(f: Field, text: string, current: Settings[SettingName] | undefined): boolean {
  if (current === undefined) return false;
  if (f.kind === 'choice') return text === current;
  if (f.kind === 'text') return text.trim() === current;
  const t = text.trim();
  return t !== '' && Number(t) === current;
}

/**
 * The live settings: what is in force now (from the latest batch) and a form
 * that PATCHes only the fields changed. The server validates; its message
 * for a field is shown next to that field, any other failure as a whole.
 */
function ControlsPanelImpl({ inForce, cluster = false, patch = patchConfig, fetch }: ControlsPanelProps) {
  const uid = useId();
  const [schema, setSchema] = useState<ConfigSchema | null>(null);
  const [schemaError, setSchemaError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let current = true;
    fetchSchema({ fetch }).then(
      (s) => {
        if (current) setSchema(s);
      },
      (err: unknown) => {
        if (current) setSchemaError(err instanceof Error ? err.message : String(err));
      },
    );
    return () => {
      current = false;
    };
  }, [fetch, attempt]);
  const allFields = useMemo(() => (schema ? fieldsOf(schema) : []), [schema]);
  const [draft, setDraft] = useState<Draft>({});
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [message, setMessage] = useState('');
  const [submitting, setSubmitting] = useState(false);
  const [token, setToken] = useState(loadToken);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  // Edits that the settings in force have caught up with are done: the
  // field follows what is in force again. inForceKey stands for inForce's
  // values (its identity changes every batch). Adjusted while rendering, not
  // in an effect: an effect's update after the live view's commit (a sync
  // one, from useSyncExternalStore) would be a second commit in the frame.
  const inForceKey = inForce ? allFields.map((f) => show(inForce[f.name])).join('|') : '';
  const [seenKey, setSeenKey] = useState(inForceKey);
  if (inForceKey !== seenKey) {
    setSeenKey(inForceKey);
    if (inForce) {
      let next: Draft | null = null;
      for (const f of allFields) {
        const text = draft[f.name];
        if (text !== undefined && sameValue(f, text, inForce[f.name])) {
          next ??= { ...draft };
          delete next[f.name];
        }
      }
      if (next) setDraft(next);
    }
  }

  const fields = cluster ? allFields.filter((f) => !f.fixedInCluster) : allFields;
  const changed = fields.filter((f) => {
    const text = draft[f.name];
    return text !== undefined && !sameValue(f, text, inForce?.[f.name]);
  });

  const edit = (name: SettingName, value: string) => {
    setDraft((d) => ({ ...d, [name]: value }));
    setErrors((e) => {
      if (!(name in e)) return e;
      const next = { ...e };
      delete next[name];
      return next;
    });
    setMessage('');
  };

  const reset = () => {
    setDraft({});
    setErrors({});
    setFormError(null);
    setMessage('');
  };

  const onSubmit = async (ev: FormEvent<HTMLFormElement>) => {
    ev.preventDefault();
    if (submitting) return;
    const body: Record<string, number | string> = {};
    const local: Errors = {};
    for (const f of changed) {
      const text = draft[f.name]!;
      if (f.kind === 'choice') {
        body[f.name] = text;
        continue;
      }
      if (f.kind === 'text') {
        body[f.name] = text.trim();
        continue;
      }
      const t = text.trim();
      const v = Number(t);
      if (t === '' || !Number.isFinite(v)) local[f.name] = 'Enter a number.';
      else body[f.name] = v;
    }
    setFormError(null);
    if (Object.keys(local).length > 0) {
      setErrors(local);
      setMessage('');
      return;
    }
    const names = Object.keys(body);
    if (names.length === 0) {
      setErrors({});
      setMessage('Nothing to apply: no field differs from what is in force.');
      return;
    }
    setSubmitting(true);
    setErrors({});
    setMessage('Applying…');
    const res = await patch(body as SettingsPatch, { token: token.trim() || undefined });
    if (!mounted.current) return;
    setSubmitting(false);
    if (res.ok) {
      // Keep the values shown until the stream reports them in force.
      setMessage(`Applied: ${names.map((n) => `${n} ${body[n]}`).join(', ')}.`);
      return;
    }
    const fieldErrors: Errors = {};
    const other: string[] = [];
    for (const [k, msg] of Object.entries(res.fields)) {
      if (allFields.some((f) => f.name === k)) fieldErrors[k as SettingName] = msg;
      else other.push(`${k}: ${msg}`);
    }
    setErrors(fieldErrors);
    const perField = Object.keys(fieldErrors).length;
    setFormError(perField === 0 ? res.error : other.length > 0 ? other.join('; ') : null);
    setMessage(perField > 0 ? `Not applied: ${perField === 1 ? 'one field is' : `${perField} fields are`} invalid.` : 'Not applied.');
  };

  if (!schema) {
    return (
      <section className="card card-controls" aria-labelledby={`${uid}-title`}>
        <h2 id={`${uid}-title`}>Settings</h2>
        {schemaError === null ? (
          <p className="muted" role="status" data-testid="controls-loading">
            Loading the settings…
          </p>
        ) : (
          <p className="form-error" role="alert" data-testid="controls-schema-error">
            Could not load the settings: {schemaError}.{' '}
            <button
              type="button"
              onClick={() => {
                setSchemaError(null);
                setAttempt((n) => n + 1);
              }}
            >
              Retry
            </button>
          </p>
        )}
      </section>
    );
  }

  return (
    <section className="card card-controls" aria-labelledby={`${uid}-title`}>
      <h2 id={`${uid}-title`}>Settings</h2>
      <form className="controls" onSubmit={onSubmit} noValidate aria-describedby={formError ? `${uid}-error` : undefined}>
        <fieldset disabled={submitting} aria-busy={submitting}>
          <legend className="sr-only">Live settings: change any, then apply</legend>
          <div className="fields">
            {fields.map((f) => {
              const id = `${uid}-${f.name}`;
              const current = inForce?.[f.name];
              const value = draft[f.name] ?? show(current);
              const err = errors[f.name];
              const isChanged = changed.includes(f);
              const describedBy = [`${id}-now`, err ? `${id}-err` : null].filter(Boolean).join(' ');
              const common = {
                id,
                name: f.name,
                value,
                'aria-describedby': describedBy,
                'aria-invalid': err ? true : undefined,
                'data-testid': `control-${f.name}`,
                className: isChanged ? 'changed' : undefined,
              };
              return (
                <div className={`field${f.kind === 'text' ? ' field-wide' : ''}${err ? ' field-invalid' : ''}`} key={f.name}>
                  <label htmlFor={id}>
                    {f.label}
                    {f.kind === 'number' && f.unit && <span className="unit"> ({f.unit})</span>}
                    {cluster && f.perNode && (
                      <span className="per-node" data-testid={`per-node-${f.name}`}>
                        {' '}
                        per node
                      </span>
                    )}
                  </label>
                  {f.kind === 'number' ? (
                    <input
                      {...common}
                      type="number"
                      inputMode="decimal"
                      step="any"
                      autoComplete="off"
                      onChange={(e) => edit(f.name, e.target.value)}
                    />
                  ) : f.kind === 'text' ? (
                    <input
                      {...common}
                      type="text"
                      inputMode={f.inputMode}
                      spellCheck={false}
                      autoComplete="off"
                      placeholder={f.placeholder}
                      onChange={(e) => edit(f.name, e.target.value)}
                    />
                  ) : (
                    <select {...common} onChange={(e) => edit(f.name, e.target.value)}>
                      {value === '' && <option value="">—</option>}
                      {(f.choices.includes(value) || value === '' ? f.choices : [...f.choices, value]).map((c) => (
                        <option key={c} value={c}>
                          {c}
                        </option>
                      ))}
                    </select>
                  )}
                  <span id={`${id}-now`} className="in-force">
                    in force:{' '}
                    <span data-testid={`config-${f.name}`}>{current === undefined || current === '' ? '—' : show(current)}</span>
                    {f.kind !== 'choice' && f.hint && <span className="sr-only">; allowed {f.hint}</span>}
                    {isChanged && <span className="changed-mark"> · changed</span>}
                  </span>
                  {err && (
                    <span id={`${id}-err`} className="field-error" data-testid={`control-error-${f.name}`}>
                      {err}
                    </span>
                  )}
                </div>
              );
            })}
          </div>
          {cluster && (
            <p className="muted small cluster-note" data-testid="cluster-note">
              In a cluster these are the settings of the node serving this page: a change applies to it alone.
              The tick is the same on every node and fixed when they start (in force: {show(inForce?.tickMs) || '—'} ms).
            </p>
          )}
          <div className="field field-token">
            <label htmlFor={`${uid}-token`}>Token (if the server requires one)</label>
            <input
              id={`${uid}-token`}
              type="password"
              autoComplete="off"
              value={token}
              data-testid="control-token"
              onChange={(e) => {
                setToken(e.target.value);
                saveToken(e.target.value.trim());
              }}
            />
          </div>
          <div className="form-actions">
            <button type="submit" className="primary" data-testid="control-submit">
              {submitting ? 'Applying…' : changed.length > 1 ? `Apply ${changed.length} changes` : 'Apply'}
            </button>
            <button type="button" onClick={reset} disabled={changed.length === 0 && !formError && Object.keys(errors).length === 0}>
              Reset
            </button>
            <span className="form-status" role="status" data-testid="control-status">
              {message}
            </span>
          </div>
        </fieldset>
        {formError && (
          <p id={`${uid}-error`} className="form-error" role="alert" data-testid="control-error">
            {formError}
          </p>
        )}
      </form>
    </section>
  );
}

/**
 * Renders again only when the settings in force change (the client keeps
 * the same config object while they are equal) or on the user's input.
 */
export const ControlsPanel = memo(ControlsPanelImpl);
