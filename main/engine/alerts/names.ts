import type { FerryConfig } from '../config/schema.ts';
/** Internal flows carrying alerts are named `@alert:<index of the rule>` (a name no config flow can have). */
export const ALERT_FLOW_PREFIX = '@alert:';
export const alertFlowName = (index: number) => `${ALERT_FLOW_PREFIX}${index}`;
export const isAlertFlow = (flow: string) => flow.startsWith(ALERT_FLOW_PREFIX);

/** Every flow whose items are in the queue: the configured flows and the alert channels' (@alert:<n>). */
export function queueFlowNames(config: Pick<FerryConfig, 'integrations' | 'alerts'>): string[] {
  return [...config.integrations.flatMap((i) => i.flows.map((f) => f.name)), ...config.alerts.map((_, i) => alertFlowName(i))];
}
