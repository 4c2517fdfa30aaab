/**
 * Reads the provisioned Grafana dashboards (docker/grafana/dashboards) and does to their
 * queries what Grafana does before sending them, so tests can run the very text Grafana would:
 * - InfluxQL: `$timeFilter` → `time >= {from}ms and time <= {to}ms`, `$__interval` → the
 *   interval string, `$__interval_ms`, `$__from`, `$__to`, and template variables (`$device`,
 *   `${device}`, `[[device]]`) → their value;
 * - PromQL: the metric names an expression reads and the label names it matches or groups on.
 * A variable the caller did not give is an error, so a dashboard cannot use one untested.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const DASHBOARDS_DIR = join(import.meta.dirname, '..', '..', 'docker', 'grafana', 'dashboards');
export const PROVISIONING_DIR = join(import.meta.dirname, '..', '..', 'docker', 'grafana', 'provisioning');

export interface GrafanaTarget {
  refId: string;
  datasource?: { type: string; uid: string };
  query?: string;
  rawQuery?: boolean;
  resultFormat?: string;
  expr?: string;
}

export interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: GrafanaTarget[];
  fieldConfig?: { defaults?: Record<string, unknown> };
  panels?: GrafanaPanel[];
}

export interface GrafanaVariable {
  name: string;
  type: string;
  datasource?: { type: string; uid: string };
  query?: string | { query: string };
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  panels: GrafanaPanel[];
  templating?: { list: GrafanaVariable[] };
}

/** Every dashboard JSON file of the repository, by file name. */
export function loadDashboards(dir = DASHBOARDS_DIR): Map<string, GrafanaDashboard> {
  const out = new Map<string, GrafanaDashboard>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    out.set(file, JSON.parse(readFileSync(join(dir, file), 'utf8')) as GrafanaDashboard);
  }
  return out;
}

/** Panels including those nested in rows. */
export function allPanels(dashboard: GrafanaDashboard): GrafanaPanel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export interface DashboardQuery {
  /** `{dashboard uid}/{panel title}/{refId}`, or `{dashboard uid}/$variable` for a template variable. */
  key: string;
  datasourceUid: string;
  text: string;
}

/** Every query a data source of `type` runs for the dashboard: panel targets and template variables. */
export function dashboardQueries(dashboard: GrafanaDashboard, type: 'influxdb' | 'prometheus'): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const panel of allPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      const ds = target.datasource ?? panel.datasource;
      if (ds?.type !== type) continue;
      const text = type === 'influxdb' ? target.query : target.expr;
      if (text === undefined) throw new Error(`${dashboard.uid}/${panel.title}/${target.refId}: no ${type === 'influxdb' ? 'query' : 'expr'}`);
      out.push({ key: `${dashboard.uid}/${panel.title}/${target.refId}`, datasourceUid: ds.uid, text });
    }
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query' || variable.datasource?.type !== type) continue;
    const text = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    if (!text) throw new Error(`${dashboard.uid}/$${variable.name}: no query`);
    out.push({ key: `${dashboard.uid}/$${variable.name}`, datasourceUid: variable.datasource.uid, text });
  }
  return out;
}

export interface MacroContext {
  fromMs: number;
  toMs: number;
  /** What Grafana computed for `$__interval`, e.g. `1h` or `30s`. */
  interval: string;
  variables?: Record<string, string>;
}

const INTERVAL = /^(\d+)(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds of an interval string (`5m` → 300000). */
export function intervalMs(interval: string): number {
  const match = INTERVAL.exec(interval);
  if (!match) throw new Error(`bad interval "${interval}": expected a number and ms, s, m, h, d or w`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/**
 * The InfluxQL Grafana's InfluxDB data source sends for a raw query: macros first, then
 * template variables. Values go in as they are (as Grafana does for a single-value variable),
 * so one that could break out of a quoted string is refused here.
 */
export function expandInfluxQL(query: string, context: MacroContext): string {
  if (!Number.isFinite(context.fromMs) || !Number.isFinite(context.toMs) || context.fromMs > context.toMs) {
    throw new Error(`bad time range ${context.fromMs}..${context.toMs}`);
  }
  const ms = intervalMs(context.interval);
  const macros: Record<string, string> = {
    timeFilter: `time >= ${Math.floor(context.fromMs)}ms and time <= ${Math.floor(context.toMs)}ms`,
    __interval: context.interval,
    interval: context.interval,
    __interval_ms: String(ms),
    __from: String(Math.floor(context.fromMs)),
    __to: String(Math.floor(context.toMs)),
  };
  const variables = context.variables ?? {};
  for (const [name, value] of Object.entries(variables)) {
    if (/['"\\\n]/.test(value)) throw new Error(`variable ${name}: value ${JSON.stringify(value)} would break out of InfluxQL quotes`);
  }
  const lookup = (name: string): string => {
    if (name in macros) return macros[name]!;
    if (name in variables) return variables[name]!;
    throw new Error(`query uses $${name}, which is neither a Grafana macro nor a given variable: ${query}`);
  };
  // ${name}, ${name:format} (formats are not used by these dashboards), [[name]], $name.
  return query.replace(/\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)/g, (_all, braced: string | undefined, format: string | undefined, bracketed: string | undefined, plain: string | undefined) => {
    if (format !== undefined) throw new Error(`variable format :${format} is not supported by this expander`);
    return lookup((braced ?? bracketed ?? plain)!);
  });
}

export interface PromReference {
  metrics: string[];
  /** Label names of matchers and of `by (…)` / `without (…)` clauses. */
  labels: string[];
}

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** The metric names and label names a PromQL expression uses (enough for these dashboards' expressions). */
export function promReferences(expr: string): PromReference {
  const labels = new Set<string>();
  let rest = expr
    // String literals first: their content is neither a metric nor a label.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    // Range and subquery selectors: [5m], [$__rate_interval], [1h:5m].
    .replace(/\[[^\]]*\]/g, ' ');
  rest = rest.replace(/\{([^}]*)\}/g, (_all, inner: string) => {
    for (const match of inner.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) labels.add(match[1]!);
    return ' ';
  });
  rest = rest.replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_all, inner: string) => {
    for (const name of inner.split(',').map((s) => s.trim()).filter(Boolean)) labels.add(name);
    return ' ';
  });
  const metrics = new Set<string>();
  for (const match of rest.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)) {
    const [_, name, call] = match;
    if (call || PROMQL_KEYWORDS.has(name!.toLowerCase())) continue;
    // A number's exponent or a duration is not a name.
    const before = rest[match.index! - 1];
    if (before && /[0-9.]/.test(before)) continue;
    metrics.add(name!);
  }
  return { metrics: [...metrics].sort(), labels: [...labels].sort() };
}
