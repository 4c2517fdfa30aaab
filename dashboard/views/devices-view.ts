/**
 * Every device with its latest values, grouped by kind: the table a startup or an operator
 * scans to see who is reporting and what. Rows link to the device page; only rows whose
 * device changed are redrawn (ages tick every second).
 */
import type { ReadingKind } from '../../contracts/readings.ts';
import { numericMetricsOf, readingKinds } from '../../contracts/kinds-table.ts';
import { filteredDevices } from '../model/aggregates.ts';
import type { AppContext } from './context.ts';
import { HEALTH_LABELS, fillBandOf, flowPerHour, healthOf, isFireRisk, sourceLabel, type DeviceView } from '../model/device-status.ts';
import { h, setText, type View } from './dom.ts';
import { bandOf, eaqiOf } from '../model/eaqi-colours.ts';
import { kindColourOf, kindDisplay } from '../model/kinds.ts';
import { kindLabel, formatAge, formatNumber, formatValue, signalQuality, unitOf, metricLabel } from '../model/format.ts';

interface Column {
  label: string;
  unit?: string;
  render(device: DeviceView): Node | string;
}

const value = (kind: ReadingKind, metric: string): Column => ({
  label: metricLabel(metric),
  unit: unitOf(kind, metric),
  render: (device) => {
    const v = device.latest?.values[metric];
    if (v === undefined) return '–';
    return typeof v === 'number' ? formatNumber(v) : formatValue(kind, metric, v);
  },
});

/** The built-in kinds' hand-made columns (EAQI, flow, the bin bar); other kinds get columnsOf's. */
const COLUMNS: Record<ReadingKind, Column[]> = {
  air: [
    {
      label: 'EAQI',
      render: (device) => {
        const eaqi = device.latest ? eaqiOf(device.latest.values) : undefined;
        if (!eaqi) return '–';
        const band = bandOf(eaqi.level);
        return h('span', { class: 'level-chip', style: `background:${band.colour};color:${band.ink}` }, `${eaqi.level} ${band.label}`);
      },
    },
    value('air', 'pm25'),
    value('air', 'pm10'),
    value('air', 'no2'),
    value('air', 'o3'),
    value('air', 'temperature'),
  ],
  traffic: [
    { label: 'Flow', unit: '/h', render: (device) => formatNumber(flowPerHour(device), 0) },
    value('traffic', 'cars'),
    value('traffic', 'bicycles'),
    value('traffic', 'pedestrians'),
    value('traffic', 'speed'),
  ],
  waste: [
    {
      label: 'Fill',
      unit: '%',
      render: (device) => {
        const fill = device.latest?.values.fill;
        if (typeof fill !== 'number') return '–';
        const band = fillBandOf(fill);
        return h(
          'span',
          { class: 'fill-cell' },
          h('span', { class: 'bin-track' }, h('span', { class: 'bin-bar', style: `width:${Math.min(100, fill)}%;background:${band.colour}` })),
          formatNumber(fill, 0),
        );
      },
    },
    {
      label: 'Temperature',
      unit: '°C',
      render: (device) => {
        const t = device.latest?.values.temperature;
        if (typeof t !== 'number') return '–';
        return isFireRisk(device.latest) ? h('span', { class: 'fire-badge' }, `⚠ ${formatNumber(t)}`) : formatNumber(t);
      },
    },
    value('waste', 'lidOpen'),
    value('waste', 'weight'),
  ],
};

/**
 * A kind's columns: the hand-made ones of a built-in kind; for any other, its headline metric
 * as a chip in the kind's colour, then its other numeric fields (at most five columns in all).
 */
function columnsOf(kind: ReadingKind): Column[] {
  const builtIn = COLUMNS[kind];
  if (builtIn) return builtIn;
  const { headline } = kindDisplay(kind);
  const others = numericMetricsOf(kind).filter((m) => m !== headline).slice(0, headline ? 4 : 5);
  const headlineColumn: Column[] = headline
    ? [
        {
          label: metricLabel(headline),
          unit: unitOf(kind, headline),
          render: (device) => {
            const v = device.latest?.values[headline];
            if (typeof v !== 'number') return '–';
            return h('span', { class: 'level-chip', 'data-testid': `headline-${device.info.id}`, style: `background:${kindColourOf(kind, v)};color:#fff` }, formatNumber(v));
          },
        },
      ]
    : [];
  return [...headlineColumn, ...others.map((m) => value(kind, m))];
}

interface Row {
  tr: HTMLTableRowElement;
  device?: DeviceView;
  status: HTMLElement;
  cells: HTMLTableCellElement[];
  battery: HTMLTableCellElement;
  signal: HTMLTableCellElement;
  age: HTMLTableCellElement;
}

export function createDevicesView(ctx: AppContext): View {
  const sections = new Map<ReadingKind, { section: HTMLElement; body: HTMLTableSectionElement; count: HTMLElement }>();
  const rows = new Map<string, Row>();
  let lastFullRefresh = 0;
  const registryNote = h('p', { class: 'notice', hidden: true }, '');
  const el = h('div', { class: 'view devices-view', 'data-testid': 'devices-view' }, h('h1', { class: 'view-title' }, 'Devices'), registryNote);

  /** A kind's table, made when the kind first has devices (kinds may arrive at run time). */
  function sectionOf(kind: ReadingKind): { section: HTMLElement; body: HTMLTableSectionElement; count: HTMLElement } {
    const existing = sections.get(kind);
    if (existing) return existing;
    const count = h('span', { class: 'count-pill' }, '0');
    const body = h('tbody');
    const head = h(
      'tr',
      {},
      h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col' }, 'Device'),
      ...columnsOf(kind).map((c) => h('th', { scope: 'col', class: 'num' }, c.label, c.unit ? h('span', { class: 'unit' }, ` ${c.unit}`) : null)),
      h('th', { scope: 'col', class: 'num' }, 'Battery', h('span', { class: 'unit' }, ' %')),
      h('th', { scope: 'col', class: 'num' }, 'Signal', h('span', { class: 'unit' }, ' dBm')),
      h('th', { scope: 'col', class: 'num' }, 'Last heard'),
    );
    const section = h(
      'section',
      { class: 'panel device-group', 'data-testid': `device-group-${kind}`, 'aria-label': kindLabel(kind) },
      h('header', { class: 'panel-head' }, h('h2', {}, kindLabel(kind), ' ', count)),
      h('div', { class: 'table-scroll' }, h('table', { class: 'device-table' }, h('thead', {}, head), body)),
    );
    const made = { section, body, count };
    sections.set(kind, made);
    el.append(section);
    return made;
  }
  for (const kind of readingKinds()) sectionOf(kind);

  function createRow(device: DeviceView): Row {
    const kind = device.info.kind;
    const status = h('span', { class: 'status' });
    const cells = columnsOf(kind).map(() => h('td', { class: 'num' }));
    const battery = h('td', { class: 'num' });
    const signal = h('td', { class: 'num' });
    const age = h('td', { class: 'num age' });
    const link = h('a', { href: ctx.href({ view: 'device', deviceId: device.info.id }), class: 'device-link' }, device.info.name);
    const meta = [device.info.id !== device.info.name ? device.info.id : '', device.info.site ?? '', device.info.owner ?? '', device.info.registered ? sourceLabel(device.info.source) : ''].filter(Boolean).join(' · ');
    const tr = h(
      'tr',
      { 'data-testid': `device-row-${device.info.id}`, 'data-device': device.info.id },
      h('td', {}, status),
      h('td', { class: 'device-cell' }, link, meta ? h('span', { class: 'device-meta' }, meta) : null),
      ...cells,
      battery,
      signal,
      age,
    );
    // The whole row is a target for the mouse; the link keeps it keyboard reachable.
    tr.addEventListener('click', (event) => {
      if ((event.target as HTMLElement).closest('a')) return;
      ctx.navigate({ view: 'device', deviceId: device.info.id });
    });
    return { tr, status, cells, battery, signal, age };
  }

  function fillRow(row: Row, device: DeviceView, now: number, full: boolean): void {
    // Unchanged devices only need their age and status refreshed, once a second.
    if (!full && row.device === device) return;
    const health = healthOf(device, now);
    if (row.device !== device) {
      row.device = device;
      columnsOf(device.info.kind).forEach((column, i) => row.cells[i]!.replaceChildren(column.render(device)));
      const battery = device.latest?.battery;
      setText(row.battery, battery === undefined ? '–' : formatNumber(battery, 0));
      row.battery.classList.toggle('is-low', battery !== undefined && battery < 20);
      const rssi = device.latest?.rssi;
      const quality = signalQuality(rssi);
      row.signal.replaceChildren(rssi === undefined ? '–' : h('span', { class: `signal bars-${quality.bars}`, title: quality.label }, formatNumber(rssi, 0)));
    }
    row.status.className = `status status-${health}`;
    setText(row.status, HEALTH_LABELS[health]);
    setText(row.age, device.lastHeardMs === undefined ? 'never' : formatAge((now - device.lastHeardMs) / 1000));
    row.tr.classList.toggle('is-offline', health === 'offline');
  }

  return {
    el,
    update() {
      const state = ctx.store.get();
      const now = ctx.now();
      const filter = ctx.route().filter;
      const full = now - lastFullRefresh >= 1_000;
      if (full) lastFullRefresh = now;
      registryNote.hidden = state.registry !== 'unavailable';
      setText(registryNote, 'The device registry is not available, so this list shows the devices heard from, with the default 60 s reporting interval.');
      const seen = new Set<string>();
      for (const kind of readingKinds()) {
        const devices = filteredDevices(state.devices, filter, kind);
        if (devices.length === 0 && !sections.has(kind)) continue;
        const group = sectionOf(kind);
        group.section.hidden = devices.length === 0 || (filter.kind !== undefined && filter.kind !== kind);
        setText(group.count, String(devices.length));
        const ordered: HTMLTableRowElement[] = [];
        for (const device of devices) {
          seen.add(device.info.id);
          let row = rows.get(device.info.id);
          // Registry changes (name, site, owner) rebuild the row; readings only refill it.
          if (!row || (row.device !== undefined && row.device.info !== device.info)) {
            row = createRow(device);
            rows.set(device.info.id, row);
          }
          fillRow(row, device, now, full);
          ordered.push(row.tr);
        }
        const current = [...group.body.children];
        if (current.length !== ordered.length || current.some((tr, i) => tr !== ordered[i])) group.body.replaceChildren(...ordered);
      }
      for (const id of [...rows.keys()]) if (!seen.has(id)) rows.delete(id);
    },
    dispose() {},
  };
}
