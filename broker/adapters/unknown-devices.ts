/**
 * Repeated messages for one unregistered device, recorded once per window. A network server
 * forwards every uplink of a device nobody registered yet (every few minutes, for ever), and a
 * misconfigured HTTP device retries in a loop: one DEVICE_UNKNOWN record each would fill the
 * `rejected` measurement with copies. So per identifier the first message of a window is
 * recorded (the sender waits for it to be durable, as for any rejection), the rest are counted
 * and answered at once, and when the window ends the count is recorded once, saying how many
 * messages it stands for. Every message is still answered 404 and counted.
 */

export interface UnknownDeviceCollapser {
  /**
   * What to do with a message for the unknown `key` (an identifier, e.g. `devEui 70B3…`):
   * `record` it, or it was counted (`suppressed`: how many the window holds now).
   */
  admit(key: string): { record: true } | { record: false; suppressed: number };
  /** Ends every window now, handing the counts over (at close). */
  flush(): void;
  /** Keys with an open window. */
  size(): number;
}

export interface UnknownDeviceCollapserOptions {
  windowMs: number;
  /** Called when a window that counted messages ends: record one summary for `count` of them. */
  onSummary: (key: string, count: number) => void;
  /** Windows open at once before the oldest is ended early (default 10,000). */
  maxKeys?: number;
}

export function createUnknownDeviceCollapser(options: UnknownDeviceCollapserOptions): UnknownDeviceCollapser {
  const maxKeys = options.maxKeys ?? 10_000;
  const windows = new Map<string, { suppressed: number; timer: NodeJS.Timeout }>();

  function end(key: string): void {
    const window = windows.get(key);
    if (!window) return;
    clearTimeout(window.timer);
    windows.delete(key);
    if (window.suppressed > 0) options.onSummary(key, window.suppressed);
  }

  return {
    admit(key) {
      const window = windows.get(key);
      if (window) {
        window.suppressed += 1;
        return { record: false, suppressed: window.suppressed };
      }
      // Too many identifiers at once (a spray): end the oldest window rather than grow.
      while (windows.size >= maxKeys) end(windows.keys().next().value!);
      const timer = setTimeout(() => end(key), options.windowMs);
      timer.unref();
      windows.set(key, { suppressed: 0, timer });
      return { record: true };
    },
    flush() {
      for (const key of [...windows.keys()]) end(key);
    },
    size: () => windows.size,
  };
}
