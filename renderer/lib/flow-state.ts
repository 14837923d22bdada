// A flow's state in words and colour class (the same precedence as the tray icon's).
import type { FlowStatus } from '../api/client.ts';

export type FlowState = 'ok' | 'syncing' | 'attention' | 'error' | 'paused' | 'disabled';

export function flowState(f: FlowStatus): FlowState {
  if (!f.enabled) return 'disabled';
  if (f.counts.dead > 0) return 'error';
  if (f.paused) return 'paused';
  if (f.waitingFor || f.counts.retrying > 0 || f.destination.health === 'unreachable' || f.source.intakeBlocked || f.source.failingSince) return 'attention';
  if (f.counts.queued > 0 || f.counts.inflight > 0) return 'syncing';
  return 'ok';
}

export const STATE_LABEL: Record<FlowState, string> = {
  ok: 'OK',
  syncing: 'Syncing',
  attention: 'Needs attention',
  error: 'Items failed',
  paused: 'Paused',
  disabled: 'Disabled',
};
