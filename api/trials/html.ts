/**
 * The device report as a printable page: one self-contained HTML document with inline SVG
 * charts drawn here on the server — no scripts, no fonts, no external assets — so it opens
 * offline and prints cleanly to PDF (A4, one device per page). Every text from the trial or
 * the data is HTML-escaped.
 */
import type { DeviceReport, PollutantComparison, TrialReport } from '../../contracts/index.ts';

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (value: number | null | undefined, digits = 1, unit = ''): string =>
  value === null || value === undefined || !Number.isFinite(value) ? '–' : `${(Math.round(value * 10 ** digits) / 10 ** digits).toLocaleString('en-GB')}${unit ? ` ${unit}` : ''}`;

const W = 640;
const H = 140;
const PAD = { l: 44, r: 10, t: 10, b: 22 };

function axisLabelTime(ms: number, spanMs: number): string {
  const iso = new Date(ms).toISOString();
  return spanMs > 3 * 86_400_000 ? iso.slice(5, 10) : iso.slice(5, 16).replace('T', ' ');
}

/** Bars of coverage (%) per bucket over the period. */
function coverageChart(device: DeviceReport, fromMs: number, toMs: number): string {
  const values = device.series.coveragePct;
  const innerW = W - PAD.l - PAD.r;
  const innerH = H - PAD.t - PAD.b;
  const barW = innerW / Math.max(1, values.length);
  const bars = values
    .map((v, i) => {
      const h = (Math.max(0, Math.min(100, v)) / 100) * innerH;
      const colour = v >= 99 ? '#2e7d32' : v >= 50 ? '#f9a825' : '#c62828';
      return `<rect x="${(PAD.l + i * barW).toFixed(2)}" y="${(PAD.t + innerH - h).toFixed(2)}" width="${Math.max(0.5, barW - 0.3).toFixed(2)}" height="${h.toFixed(2)}" fill="${colour}"/>`;
    })
    .join('');
  return svgFrame(`Coverage per ${fmt(device.series.bucketMs / 60_000, 0)} min: readings ÷ expected`, bars, ['0 %', '100 %'], [axisLabelTime(fromMs, toMs - fromMs), axisLabelTime(toMs, toMs - fromMs)]);
}

function svgFrame(title: string, body: string, yLabels: [string, string], xLabels: [string, string]): string {
  const innerH = H - PAD.t - PAD.b;
  return `<figure><figcaption>${escapeHtml(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeHtml(title)}" xmlns="http://www.w3.org/2000/svg">
<rect x="${PAD.l}" y="${PAD.t}" width="${W - PAD.l - PAD.r}" height="${innerH}" fill="#fafafa" stroke="#ccc"/>
${body}
<text x="${PAD.l - 4}" y="${PAD.t + innerH}" text-anchor="end" font-size="10">${escapeHtml(yLabels[0])}</text>
<text x="${PAD.l - 4}" y="${PAD.t + 9}" text-anchor="end" font-size="10">${escapeHtml(yLabels[1])}</text>
<text x="${PAD.l}" y="${H - 6}" font-size="10">${escapeHtml(xLabels[0])}</text>
<text x="${W - PAD.r}" y="${H - 6}" text-anchor="end" font-size="10">${escapeHtml(xLabels[1])}</text>
</svg></figure>`;
}

function lineChart(title: string, points: readonly [number, number][], fromMs: number, toMs: number, unit: string): string {
  if (points.length === 0) return '';
  const ys = points.map(([, y]) => y);
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  if (hi === lo) {
    lo -= 1;
    hi += 1;
  }
  const innerW = W - PAD.l - PAD.r;
  const innerH = H - PAD.t - PAD.b;
  const x = (t: number) => PAD.l + ((t - fromMs) / Math.max(1, toMs - fromMs)) * innerW;
  const y = (v: number) => PAD.t + innerH - ((v - lo) / (hi - lo)) * innerH;
  const path = points.map(([t, v], i) => `${i === 0 ? 'M' : 'L'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  return svgFrame(title, `<path d="${path}" fill="none" stroke="#1565c0" stroke-width="1.5"/>`, [`${fmt(lo, 1)} ${unit}`, `${fmt(hi, 1)} ${unit}`], [axisLabelTime(fromMs, toMs - fromMs), axisLabelTime(toMs, toMs - fromMs)]);
}

function scatterChart(c: PollutantComparison): string {
  if (c.pairs.length === 0) return '';
  const all = c.pairs.flatMap(([, d, r]) => [d, r]);
  const lo = Math.min(0, ...all);
  const hi = Math.max(...all) * 1.05 || 1;
  const size = 220;
  const pad = 30;
  const inner = size - 2 * pad;
  const p = (v: number) => (v - lo) / (hi - lo);
  const dots = c.pairs.map(([, d, r]) => `<circle cx="${(pad + p(r) * inner).toFixed(1)}" cy="${(size - pad - p(d) * inner).toFixed(1)}" r="1.8" fill="#1565c0" fill-opacity="0.6"/>`).join('');
  const fit =
    c.slope !== null && c.intercept !== null
      ? `<line x1="${pad}" y1="${(size - pad - p(c.slope * lo + c.intercept) * inner).toFixed(1)}" x2="${size - pad}" y2="${(size - pad - p(c.slope * hi + c.intercept) * inner).toFixed(1)}" stroke="#c62828" stroke-width="1.2"/>`
      : '';
  const title = `${c.pollutant}: device vs reference, hourly means (${c.unit})`;
  return `<figure class="scatter"><figcaption>${escapeHtml(title)}</figcaption><svg viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" role="img" aria-label="${escapeHtml(title)}" xmlns="http://www.w3.org/2000/svg">
<rect x="${pad}" y="${pad}" width="${inner}" height="${inner}" fill="#fafafa" stroke="#ccc"/>
<line x1="${pad}" y1="${size - pad}" x2="${size - pad}" y2="${pad}" stroke="#999" stroke-dasharray="3,3"/>${fit}${dots}
<text x="${size / 2}" y="${size - 8}" text-anchor="middle" font-size="10">reference</text>
<text x="10" y="${size / 2}" font-size="10" transform="rotate(-90 10 ${size / 2})" text-anchor="middle">device</text>
</svg></figure>`;
}

function verdictList(device: DeviceReport): string {
  return `<ul class="verdicts">${device.verdicts
    .map((v) => `<li class="${v.met ? 'met' : 'not-met'}"><strong>${v.met ? '✔ met' : '✘ not met'}</strong> — ${escapeHtml(v.text)}</li>`)
    .join('')}</ul>`;
}

function deviceSection(device: DeviceReport, fromMs: number, toMs: number): string {
  const gaps = device.gaps.list
    .slice(0, 20)
    .map((g) => `<tr><td>${escapeHtml(g.from)}</td><td>${escapeHtml(g.to)}</td><td>${fmt(g.durationMs / 60_000, 1)} min</td><td>${g.missing}</td><td>${escapeHtml(g.edge ?? (g.afterSeq !== undefined ? `seq ${g.afterSeq} → ${g.beforeSeq}` : ''))}</td></tr>`)
    .join('');
  const rejections = device.rejections.byReason
    .map((r) => `<tr><td><code>${escapeHtml(r.reason)}</code></td><td>${r.count}</td><td>${r.examples.map((e) => `${escapeHtml(e.message)}<br><code>${escapeHtml(e.excerpt.slice(0, 80))}</code>`).join('<br>')}</td></tr>`)
    .join('');
  const comparison = device.reference
    ? `<h3>Reference comparison with ${escapeHtml(device.reference.deviceId)}</h3>
<table><thead><tr><th>pollutant</th><th>paired h</th><th>bias</th><th>RMSE</th><th>R²</th><th>slope</th><th>intercept</th><th>drift /day</th><th>early → late bias</th></tr></thead><tbody>
${device.reference.pollutants
  .map(
    (c) =>
      `<tr><td>${escapeHtml(c.pollutant)} (${escapeHtml(c.unit)})</td><td>${c.pairedHours}</td><td>${fmt(c.bias, 2)}</td><td>${fmt(c.rmse, 2)}</td><td>${fmt(c.r2, 3)}</td><td>${fmt(c.slope, 3)}</td><td>${fmt(c.intercept, 2)}</td><td>${fmt(c.drift.perDay, 3)}</td><td>${fmt(c.drift.earlyBias, 2)} → ${fmt(c.drift.lateBias, 2)}</td></tr>`,
  )
  .join('')}
</tbody></table><div class="scatters">${device.reference.pollutants.map(scatterChart).join('')}</div>`
    : '';
  return `<section class="device" id="device-${escapeHtml(device.deviceId)}">
<h2>${escapeHtml(device.deviceId)}${device.name && device.name !== device.deviceId ? ` — ${escapeHtml(device.name)}` : ''} <small>${escapeHtml(device.kind ?? 'unregistered')}</small></h2>
${verdictList(device)}
<table class="figures"><tbody>
<tr><th>Completeness</th><td>${fmt(device.completenessPct, 2, '%')} (${device.readings.unique} of ${device.readings.expected} expected; ${device.readings.stored} stored)</td><th>Uptime</th><td>${fmt(device.uptimePct, 2, '%')}</td></tr>
<tr><th>Gaps (${escapeHtml(device.gaps.method)})</th><td>${device.gaps.count} gaps, ${device.gaps.missing} readings missing; longest ${device.gaps.longest ? `${fmt(device.gaps.longest.durationMs / 60_000, 1)} min` : '–'}</td><th>Median interval</th><td>${fmt(device.medianIntervalSeconds, 1, 's')}</td></tr>
<tr><th>Duplicates</th><td>${device.duplicates.count}</td><th>Out of order</th><td>${device.outOfOrder.count}</td></tr>
<tr><th>Rejections</th><td>${device.rejections.total} (${fmt(device.rejections.ratePct, 2, '%')})</td><th>Latency p50 / p95</th><td>${fmt(device.latency.p50Ms, 0, 'ms')} / ${fmt(device.latency.p95Ms, 0, 'ms')}</td></tr>
<tr><th>Clock ahead</th><td>${device.clockSkew.aheadReadings} readings, up to ${fmt(device.clockSkew.maxAheadMs !== null ? device.clockSkew.maxAheadMs / 1000 : null, 1, 's')}</td><th>Median offset</th><td>${fmt(device.clockSkew.medianOffsetMs, 0, 'ms')}</td></tr>
<tr><th>Battery</th><td>${device.battery ? `${fmt(device.battery.first, 1)} → ${fmt(device.battery.last, 1)} %, drain ${fmt(device.battery.drainPerDay, 2)} %/day, ${fmt(device.battery.projectedDaysLeft, 0)} days left` : 'not reported'}</td><th>Signal</th><td>${device.signal ? `median ${fmt(device.signal.medianDbm, 0)} dBm, min ${fmt(device.signal.minDbm, 0)} dBm` : 'not reported'}</td></tr>
</tbody></table>
${coverageChart(device, fromMs, toMs)}
${device.battery ? lineChart('Battery (%)', device.series.battery, fromMs, toMs, '%') : ''}
${gaps ? `<h3>Gaps${device.gaps.list.length > 20 ? ` (first 20 of ${device.gaps.list.length})` : ''}</h3><table><thead><tr><th>from</th><th>to</th><th>duration</th><th>missing</th><th></th></tr></thead><tbody>${gaps}</tbody></table>` : ''}
${rejections ? `<h3>Rejections by reason</h3><table><thead><tr><th>reason</th><th>count</th><th>latest examples</th></tr></thead><tbody>${rejections}</tbody></table>` : ''}
${comparison}
</section>`;
}

const STYLE = `
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:24px auto;max-width:900px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;border-bottom:2px solid #222;padding-bottom:2px}h2 small{font-weight:normal;color:#666}h3{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f3f3f3;font-weight:600}
.verdicts{list-style:none;padding:0}.verdicts li{padding:3px 6px;margin:2px 0;border-left:4px solid}.met{border-color:#2e7d32;background:#edf7ee}.not-met{border-color:#c62828;background:#fdecea}
.summary{font-size:15px;padding:8px;border:2px solid}.summary.met{border-color:#2e7d32}.summary.not-met{border-color:#c62828}
figure{margin:8px 0}figcaption{font-size:11px;color:#555}.scatters{display:flex;flex-wrap:wrap;gap:8px}.scatter{margin:0}
.notes{font-size:11px;color:#555}code{font-size:11px}
@page{size:A4;margin:14mm}
@media print{body{margin:0;max-width:none}section.device{break-before:page}table,figure,.verdicts li{break-inside:avoid}a{color:inherit;text-decoration:none}}
`;

export function renderTrialReportHtml(report: TrialReport): string {
  const { trial } = report;
  const fromMs = Date.parse(report.period.from);
  const toMs = Date.parse(report.period.to);
  const goals = trial.goals;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`Trial report — ${trial.name}`)}</title><style>${STYLE}</style></head>
<body>
<header>
<h1>Trial report: ${escapeHtml(trial.name)}</h1>
<p>Trial <code>${escapeHtml(trial.id)}</code> of <strong>${escapeHtml(trial.owner)}</strong> (${escapeHtml(trial.status)}), ${escapeHtml(trial.start)} – ${escapeHtml(trial.end ?? 'running')}.<br>
Report period ${escapeHtml(report.period.from)} – ${escapeHtml(report.period.to)} (${fmt(report.period.days, 2)} days), generated ${escapeHtml(report.generatedAt)}.<br>
Goals: every ${goals.intervalSeconds} s; completeness ≥ ${goals.completenessPct} %; reject rate ≤ ${goals.maxRejectRatePct} %${goals.maxLatencyP95Ms !== undefined ? `; latency p95 ≤ ${goals.maxLatencyP95Ms} ms` : ''}${trial.referenceDeviceId ? `; reference station ${escapeHtml(trial.referenceDeviceId)}` : ''}.</p>
<p class="summary ${report.allGoalsMet ? 'met' : 'not-met'}">${report.allGoalsMet ? '✔ Every device met every goal.' : '✘ Not every goal was met:'} ${report.devices
    .map((d) => `${escapeHtml(d.deviceId)} ${d.verdicts.filter((v) => v.met).length}/${d.verdicts.length} goals met`)
    .join('; ')}</p>
</header>
${report.devices.map((d) => deviceSection(d, fromMs, toMs)).join('\n')}
<footer class="notes"><h3>How the figures are computed</h3><ul>${report.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul></footer>
</body></html>
`;
}
