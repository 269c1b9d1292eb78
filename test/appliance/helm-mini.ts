// The subset of Helm's Go templates our chart uses, rendered here because no helm binary is on
// these machines: {{ .Values.a.b }}, "| quote", {{- if X }}, {{- if not X }}, {{- end }}. Anything
// else throws, so the chart cannot silently grow a construct this test does not understand.
import YAML from 'yaml';

type Values = Record<string, unknown>;

function lookup(values: Values, path: string): unknown {
  const m = /^\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)$/.exec(path);
  if (!m) throw new Error(`unsupported template path ${path}`);
  let v: unknown = values;
  for (const k of m[1]!.slice(1).split('.')) v = v && typeof v === 'object' ? (v as Values)[k] : undefined;
  return v;
}

function truthy(v: unknown): boolean {
  return !(
    v === undefined ||
    v === null ||
    v === false ||
    v === 0 ||
    v === '' ||
    (Array.isArray(v) && v.length === 0)
  );
}

export function renderTemplate(text: string, values: Values): string {
  const out: string[] = [];
  const stack: boolean[] = [];
  const active = () => stack.every(Boolean);
  let pos = 0;
  const re = /\{\{(-?)\s*(.*?)\s*(-?)\}\}/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let chunk = text.slice(pos, m.index);
    if (m[1]) chunk = chunk.replace(/\s+$/, '');
    if (active()) out.push(chunk);
    pos = m.index + m[0].length;
    if (m[3]) {
      const ws = /^\s*/.exec(text.slice(pos))![0];
      pos += ws.length;
    }
    const expr = m[2]!;
    const cond = /^if (not )?(\S+)$/.exec(expr);
    const value = /^(\S+)( \| quote)?$/.exec(expr);
    if (cond) {
      const v = truthy(lookup(values, cond[2]!));
      stack.push(cond[1] ? !v : v);
    } else if (expr === 'end') {
      if (!stack.length) throw new Error('unbalanced {{ end }}');
      stack.pop();
    } else if (value) {
      if (!active()) continue;
      const v = lookup(values, value[1]!);
      if (v === undefined) throw new Error(`${value[1]} is not set in values`);
      out.push(value[2] ? JSON.stringify(String(v)) : String(v));
    } else throw new Error(`unsupported template expression {{ ${expr} }}`);
  }
  if (stack.length) throw new Error('missing {{ end }}');
  if (active()) out.push(text.slice(pos));
  return out.join('');
}

function merge(a: Values, b: Values): Values {
  const out: Values = { ...a };
  for (const [k, v] of Object.entries(b))
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && typeof a[k] === 'object'
        ? merge(a[k] as Values, v as Values)
        : v;
  return out;
}

/** `helm template` for our chart: every templates/*.yaml rendered with values.yaml (+ overrides), parsed. */
export function helmTemplate(
  files: Record<string, string>,
  overrides: Values = {},
): Record<string, unknown>[] {
  const values = merge(YAML.parse(files['values.yaml']!) as Values, overrides);
  const objs: Record<string, unknown>[] = [];
  for (const [name, text] of Object.entries(files)) {
    if (!name.startsWith('templates/') || !name.endsWith('.yaml')) continue;
    for (const doc of YAML.parseAllDocuments(renderTemplate(text, values))) {
      if (doc.errors.length) throw new Error(`${name}: ${doc.errors[0]!.message}`);
      const o = doc.toJS();
      if (o) objs.push(o);
    }
  }
  return objs;
}
