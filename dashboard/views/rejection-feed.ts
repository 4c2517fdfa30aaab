/**
 * The live feed of rejected messages and alerts: why a device's message was refused (the
 * stable reason code, the explanation, the start of the payload) so the startup testing it
 * can fix its firmware. Items are cached by id; an update only inserts the new ones.
 */
import type { Alert } from '../../contracts/live.ts';
import type { Rejection } from '../../contracts/rejections.ts';
import { matchesFilter } from '../model/aggregates.ts';
import type { AppContext } from './context.ts';
import { h, setText, type View } from './dom.ts';
import { formatClock, formatDateTime, truncate } from '../model/format.ts';
import type { FeedItem } from '../model/state.ts';

export interface FeedOptions {
  /** Only this device's items (device page). */
  deviceId?: string;
  /** Items shown at most. */
  limit?: number;
  /** Extra items (e.g. loaded from the API for one device), merged with the live feed. */
  extra?: () => readonly FeedItem[];
  title?: string;
}

const EXCERPT_CHARS = 160;

export function createRejectionFeed(ctx: AppContext, options: FeedOptions = {}): View {
  const list = h('ol', { class: 'feed-list', 'aria-live': 'polite', 'aria-relevant': 'additions' });
  const empty = h('p', { class: 'feed-empty' }, options.deviceId ? 'No rejected messages from this device. Good firmware!' : 'No rejections or alerts. Every message so far met the contract.');
  const count = h('span', { class: 'count-pill' }, '0');
  const el = h(
    'section',
    { class: 'panel feed', 'data-testid': 'rejection-feed', 'aria-label': options.title ?? 'Rejections and alerts' },
    h('header', { class: 'panel-head' }, h('h2', {}, options.title ?? 'Rejections & alerts', ' ', count), h('span', { class: 'panel-sub' }, 'live')),
    empty,
    list,
  );
  const cache = new Map<string, HTMLElement>();
  let lastKey = '';

  function update(): void {
    const state = ctx.store.get();
    const route = ctx.route();
    let items: FeedItem[] = [];
    const seen = new Set<string>();
    const add = (item: FeedItem) => {
      if (seen.has(item.id)) return;
      if (options.deviceId && item.deviceId !== options.deviceId) return;
      if (!options.deviceId && item.deviceId) {
        const device = state.devices.get(item.deviceId);
        if (device && !matchesFilter(device, route.filter)) return;
        if (!device && (route.filter.owner || route.filter.site)) return;
      }
      if (!options.deviceId && route.filter.kind && item.rejection?.kind && item.rejection.kind !== route.filter.kind) return;
      seen.add(item.id);
      items.push(item);
    };
    for (const item of state.feed) add(item);
    for (const item of options.extra?.() ?? []) add(item);
    items.sort((a, b) => b.atMs - a.atMs);
    items = items.slice(0, options.limit ?? 50);
    const key = items.map((i) => i.id).join('\n');
    if (key === lastKey) return;
    lastKey = key;
    const keep = new Set<string>();
    const elements = items.map((item) => {
      keep.add(item.id);
      let itemEl = cache.get(item.id);
      if (!itemEl) {
        itemEl = item.rejection ? renderRejection(ctx, item.rejection, item.atMs) : renderAlert(ctx, item.alert!, item.atMs);
        cache.set(item.id, itemEl);
      }
      return itemEl;
    });
    for (const id of [...cache.keys()]) if (!keep.has(id)) cache.delete(id);
    list.replaceChildren(...elements);
    empty.hidden = items.length > 0;
    setText(count, String(items.length));
  }

  return { el, update, dispose() {} };
}

function deviceLink(ctx: AppContext, deviceId: string | undefined, fallback: string): Node {
  if (!deviceId) return h('span', { class: 'feed-device' }, fallback);
  return h('a', { class: 'feed-device', href: ctx.href({ view: 'device', deviceId }) }, deviceId);
}

function renderRejection(ctx: AppContext, rejection: Rejection, atMs: number): HTMLElement {
  const fields = rejection.issues
    .map((issue) => issue.path)
    .filter((path) => path !== '')
    .slice(0, 3);
  return h(
    'li',
    { class: 'feed-item is-rejection', 'data-testid': 'rejection-item', 'data-reason': rejection.reason, 'data-device': rejection.deviceId ?? '' },
    h(
      'div',
      { class: 'feed-line' },
      h('span', { class: 'reason-code' }, rejection.reason),
      deviceLink(ctx, rejection.deviceId, rejection.topic),
      h('time', { class: 'feed-time', datetime: rejection.receivedAt, title: formatDateTime(atMs) }, formatClock(atMs)),
    ),
    h('p', { class: 'feed-message' }, rejection.message, fields.length > 0 ? h('span', { class: 'feed-fields' }, ` · ${fields.join(', ')}`) : null),
    h('code', { class: 'feed-excerpt', title: rejection.excerpt }, truncate(rejection.excerpt, EXCERPT_CHARS)),
  );
}

function renderAlert(ctx: AppContext, alert: Alert, atMs: number): HTMLElement {
  return h(
    'li',
    { class: `feed-item is-alert severity-${alert.severity}`, 'data-testid': 'alert-item', 'data-rule': alert.rule, 'data-state': alert.state },
    h(
      'div',
      { class: 'feed-line' },
      h('span', { class: `alert-badge severity-${alert.severity}` }, alert.state === 'cleared' ? 'cleared' : alert.severity),
      deviceLink(ctx, alert.deviceId, alert.rule),
      h('time', { class: 'feed-time', datetime: alert.at, title: formatDateTime(atMs) }, formatClock(atMs)),
    ),
    h('p', { class: 'feed-message' }, alert.message),
  );
}
