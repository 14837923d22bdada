/** Internal flows carrying alerts are named `@alert:<index of the rule>` (a name no config flow can have). */
export const ALERT_FLOW_PREFIX = '@alert:';
export const alertFlowName = (index: number) => `${ALERT_FLOW_PREFIX}${index}`;
export const isAlertFlow = (flow: string) => flow.startsWith(ALERT_FLOW_PREFIX);
