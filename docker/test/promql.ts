/**
 * Finds the metric names a PromQL expression (or a Grafana `label_values(metric, label)` variable
 * query) reads. Enough of PromQL for dashboards: strings, label matchers, range and subquery
 * brackets, Grafana variables, grouping clauses, functions and aggregators are skipped.
 */
const AGGREGATORS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
  "limitk",
  "limit_ratio",
]);
/** Followed by a parenthesised list of label names, not of expressions. */
const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]);

export function metricNamesIn(expr: string): string[] {
  const names: string[] = [];
  let i = 0;
  const n = expr.length;
  const skipSpace = () => {
    while (i < n && /\s/.test(expr[i] as string)) i++;
  };
  /** Skips a balanced group that starts at expr[i] === open, honouring strings inside. */
  const skipGroup = (open: string, close: string) => {
    let depth = 0;
    while (i < n) {
      const c = expr[i] as string;
      if (c === '"' || c === "'" || c === "`") {
        skipString();
        continue;
      }
      if (c === open) depth++;
      if (c === close) {
        depth--;
        if (depth === 0) {
          i++;
          return;
        }
      }
      i++;
    }
    throw new Error(`unbalanced ${open}${close} in ${expr}`);
  };
  const skipString = () => {
    const quote = expr[i] as string;
    i++;
    while (i < n && expr[i] !== quote) i += expr[i] === "\\" && quote !== "`" ? 2 : 1;
    if (i >= n) throw new Error(`unterminated string in ${expr}`);
    i++;
  };

  while (i < n) {
    const c = expr[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === "`") {
      skipString();
    } else if (c === "{") {
      skipGroup("{", "}");
    } else if (c === "[") {
      skipGroup("[", "]");
    } else if (c === "$") {
      // Grafana variable: $name, ${name} or ${name:format}.
      i++;
      if (expr[i] === "{") skipGroup("{", "}");
      else while (i < n && /[a-zA-Z0-9_]/.test(expr[i] as string)) i++;
    } else if (/[0-9.]/.test(c)) {
      while (i < n && /[0-9a-zA-Z_.+]/.test(expr[i] as string)) {
        // A sign belongs to the number only right after an exponent marker.
        if (expr[i] === "+" && !/[eE]/.test(expr[i - 1] as string)) break;
        i++;
      }
    } else if (/[a-zA-Z_:]/.test(c)) {
      const start = i;
      while (i < n && /[a-zA-Z0-9_:]/.test(expr[i] as string)) i++;
      const word = expr.slice(start, i);
      const lower = word.toLowerCase();
      skipSpace();
      if (GROUPING.has(lower)) {
        if (expr[i] === "(") skipGroup("(", ")");
      } else if (lower === "label_values" && expr[i] === "(") {
        // Grafana's label_values(metric, label): only the first argument names a metric.
        const close = expr.indexOf(")", i);
        const args = expr.slice(i + 1, close === -1 ? n : close).split(",");
        if (args.length === 2) names.push(...metricNamesIn(args[0] as string));
        i = close === -1 ? n : close + 1;
      } else if (AGGREGATORS.has(lower) || KEYWORDS.has(lower) || expr[i] === "(") {
        // an aggregator, a keyword or a function call: its arguments are scanned as they come
      } else {
        names.push(word);
      }
    } else {
      i++;
    }
  }
  return names;
}

/** Every PromQL expression a Grafana dashboard holds: panel targets (rows included) and query variables. */
export function dashboardExpressions(dashboard: unknown): string[] {
  const out: string[] = [];
  const visitPanels = (panels: unknown) => {
    if (!Array.isArray(panels)) return;
    for (const panel of panels as Record<string, unknown>[]) {
      for (const target of (panel.targets as Record<string, unknown>[] | undefined) ?? []) {
        if (typeof target.expr === "string") out.push(target.expr);
      }
      visitPanels(panel.panels);
    }
  };
  const d = dashboard as { panels?: unknown; templating?: { list?: Record<string, unknown>[] } };
  visitPanels(d.panels);
  for (const variable of d.templating?.list ?? []) {
    if (variable.type !== "query") continue;
    const q = variable.query;
    if (typeof q === "string") out.push(q);
    else if (q && typeof (q as { query?: unknown }).query === "string")
      out.push((q as { query: string }).query);
  }
  return out;
}
