/**
 * Holds the state and tells listeners when it changed. Dispatching several actions at once
 * (a frame's batch) notifies once. Pure: no DOM.
 */
import { reduce, type Action, type DashboardState } from './state.ts';

export interface StateStore {
  get(): DashboardState;
  dispatch(...actions: Action[]): void;
  subscribe(listener: (state: DashboardState, previous: DashboardState) => void): () => void;
}

export function createStateStore(initial: DashboardState): StateStore {
  let state = initial;
  const listeners = new Set<(state: DashboardState, previous: DashboardState) => void>();
  return {
    get: () => state,
    dispatch(...actions) {
      const previous = state;
      for (const action of actions) state = reduce(state, action);
      if (state !== previous) for (const listener of [...listeners]) listener(state, previous);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
