/** A defect as one line for a dead letter or a log: an error's name and message, or the value. */
export const describeDefect = (defect: unknown): string =>
  defect instanceof Error
    ? `${defect.name}: ${defect.message}`
    : typeof defect === "string"
    ? defect
    : String(JSON.stringify(defect))
