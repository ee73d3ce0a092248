/**
 * The audit body of an ingested event: the same text as `JSON.stringify` of
 * `{ eventId, source, outcome, anomaly?, reached, retracted, actions, billing }`, without the
 * object (this runs once per event).
 */
export const eventAuditBody = (
  event: { readonly id: string; readonly source: string },
  outcome: string,
  anomaly: string | undefined,
  reached: ReadonlyArray<string>,
  retracted: ReadonlyArray<string>,
  actions: ReadonlyArray<string>,
  billing: string
): string =>
  `{"eventId":${JSON.stringify(event.id)},"source":${JSON.stringify(event.source)},"outcome":${JSON.stringify(outcome)}` +
  (anomaly !== undefined ? `,"anomaly":${JSON.stringify(anomaly)}` : "") +
  `,"reached":${stringArray(reached)},"retracted":${stringArray(retracted)},"actions":${stringArray(actions)}` +
  `,"billing":${JSON.stringify(billing)}}`

const stringArray = (xs: ReadonlyArray<string>): string => (xs.length === 0 ? "[]" : JSON.stringify(xs))
