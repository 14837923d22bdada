// What each flow did since the engine started, counted the same way whatever its connectors (Vector's
// component events: received, sent, bytes, errors by stage). Metrics and status read these; tests wait on them
// to know the engine looked and decided, instead of sleeping.

/** The stage an error happened in. */
export type ErrorStage = 'intake' | 'delivery' | 'after-delivery';

export class FlowCounters {
  /** Scans finished (schedule ticks, catch-up, "run now"). */
  scans = 0;
  /** Items queued. */
  taken = 0;
  /** Items offered again and recognised by their idempotency key (not queued twice). */
  duplicates = 0;
  /** Times the dispatcher looked at its queue (or decided not to, being paused or its circuit open). */
  dispatchTurns = 0;
  delivered = 0;
  bytesDelivered = 0;
  /** Failed attempts that will be tried again. */
  retries = 0;
  dead = 0;
  /** Items an admin dropped (dashboard, API) while this engine ran. */
  discarded = 0;
  /** Errors by the stage they happened in. */
  readonly errors: Record<ErrorStage, number> = { intake: 0, delivery: 0, 'after-delivery': 0 };
  /** Seconds each delivery attempt took, handed to whoever observes them (a metrics histogram). */
  onDeliveryTime?: (seconds: number, outcome: 'delivered' | 'retry' | 'dead') => void;
}
