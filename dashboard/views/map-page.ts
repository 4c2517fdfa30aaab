/**
 * The full map view: the lab map large, with the devices that need a person beside it
 * (fire risk, offline, full bins, poor air, low batteries).
 */
import { attentionItems, filteredDevices } from '../model/aggregates.ts';
import type { AppContext } from './context.ts';
import { h, setText, type View } from './dom.ts';
import { createLabMap } from './map-view.ts';

export function createMapPage(ctx: AppContext): View {
  const map = createLabMap(ctx);
  const list = h('ol', { class: 'attention-list', 'data-testid': 'attention-list' });
  const count = h('span', { class: 'count-pill' }, '0');
  const el = h(
    'div',
    { class: 'view map-page', 'data-testid': 'map-view' },
    h('section', { class: 'panel map-main', 'aria-label': 'Lab map' }, map.el),
    h(
      'aside',
      { class: 'panel attention', 'aria-label': 'Needs attention' },
      h('header', { class: 'panel-head' }, h('h2', {}, 'Needs attention ', count)),
      list,
    ),
  );
  let key = '';
  return {
    el,
    update() {
      map.update();
      const devices = filteredDevices(ctx.store.get().devices, ctx.route().filter);
      const items = attentionItems(devices, ctx.now());
      setText(count, String(items.length));
      const nextKey = items.map((i) => `${i.device.info.id}|${i.text}`).join('\n');
      if (nextKey === key) return;
      key = nextKey;
      list.replaceChildren(
        ...(items.length > 0
          ? [
              ...items.slice(0, 50).map((item) =>
                h(
                  'li',
                  { class: `attention-item severity-${item.severity}`, 'data-reason': item.reason },
                  h('a', { href: ctx.href({ view: 'device', deviceId: item.device.info.id }) }, item.device.info.name),
                  h('span', {}, item.text),
                ),
              ),
              ...(items.length > 50 ? [h('li', { class: 'attention-more' }, `and ${items.length - 50} more: narrow the list with the filters above.`)] : []),
            ]
          : [h('li', { class: 'attention-none' }, 'All clear: every device is reporting and nothing needs a visit.')]),
      );
    },
    dispose() {
      map.dispose();
    },
  };
}
