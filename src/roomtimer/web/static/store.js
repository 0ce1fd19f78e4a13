// The room as the server last described it, applied in order, older versions dropped.

export const DEFAULT_MESSAGE = Object.freeze({
  text: "",
  visible: false,
  blackout: false,
  updatedAt: null,
});

/** A timer as the screen keeps it: fields the server may not send yet default to null. */
function normalise(timer) {
  return {
    ...timer,
    warnAtMs: timer.warnAtMs ?? null,
    dangerAtMs: timer.dangerAtMs ?? null,
    finishedAt: timer.finishedAt ?? null,
  };
}

function byPosition(a, b) {
  return (
    (a.position ?? 0) - (b.position ?? 0) ||
    String(a.createdAt ?? "").localeCompare(String(b.createdAt ?? "")) ||
    String(a.id).localeCompare(String(b.id))
  );
}

export class RoomStore {
  constructor() {
    this.room = null; // {id, name, description}
    this.timers = new Map(); // id → timer
    this.ordered = [];
    this.message = DEFAULT_MESSAGE;
    this.closed = null; // null, "deleted" or "revoked"
    this.loaded = false; // a room-state has been applied
    this.changes = 0; // bumped by every applied change: the screen redraws its layout
  }

  /** Applies one server event; returns whether anything changed. */
  apply(event, payload) {
    const handler = HANDLERS[event];
    if (!handler || payload == null || this.closed) return false;
    const changed = handler(this, payload);
    if (changed) {
      this.ordered = [...this.timers.values()].sort(byPosition);
      this.changes += 1;
    }
    return changed;
  }

  /** Keeps `incoming` unless the held copy is as new or newer (contract: versions). */
  upsert(incoming) {
    const held = this.timers.get(incoming.id);
    if (held && !(incoming.version > held.version)) return false;
    this.timers.set(incoming.id, normalise(incoming));
    return true;
  }

  /** The whole room: timers it does not list are gone, older copies are not taken. */
  replace(state) {
    this.room = state.room ?? this.room;
    const listed = new Set();
    for (const timer of state.timers ?? []) {
      listed.add(timer.id);
      this.upsert(timer);
    }
    for (const id of [...this.timers.keys()]) if (!listed.has(id)) this.timers.delete(id);
    this.message = { ...DEFAULT_MESSAGE, ...(state.message ?? {}) };
    this.loaded = true;
    return true;
  }
}

const HANDLERS = {
  "room-state": (store, state) => store.replace(state),
  "timer-created": (store, timer) => store.upsert(timer),
  "timer-update": (store, timer) => store.upsert(timer),
  "timer-finished": (store, timer) => store.upsert(timer),
  "timer-deleted": (store, { id }) => store.timers.delete(id),
  "room-updated": (store, { id, name, description }) => {
    store.room = { ...(store.room ?? {}), id, name, description };
    return true;
  },
  "room-deleted": (store) => {
    store.closed = "deleted";
    return true;
  },
  "room-message": (store, { serverTime, ...message }) => {
    store.message = { ...DEFAULT_MESSAGE, ...message };
    return true;
  },
  // Not a server event name: the page applies it when its share link stops working.
  revoked: (store) => {
    store.closed = "revoked";
    return true;
  },
};
