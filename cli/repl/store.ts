import { reduce, type Action, type ReplState } from "./state.ts";

/**
 * The REPL state outside React, so a command that runs right after another (keys typed faster than a render)
 * sees the state the first one left, not the last rendered one. Components read it with useSyncExternalStore.
 */
export class Store {
  private readonly listeners = new Set<() => void>();

  constructor(private state: ReplState) {}

  get = (): ReplState => this.state;

  dispatch = (action: Action): void => {
    this.state = reduce(this.state, action);
    for (const l of this.listeners) l();
  };

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
}
