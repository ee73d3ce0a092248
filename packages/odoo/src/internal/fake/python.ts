/**
 * Python-isms the Odoo fake needs to reproduce server messages exactly: `repr()` of JSON values
 * and the messages of Python's `json` decoder.
 *
 * @internal
 */

const reprString = (s: string): string => {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'"
  const body = s
    .replace(/\\/g, "\\\\")
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t")
  return quote + (quote === "'" ? body.replace(/'/g, "\\'") : body) + quote
}

/** `repr()` of a JSON value as Python prints it. */
export const repr = (value: unknown): string => {
  if (value === null || value === undefined) return "None"
  if (value === true) return "True"
  if (value === false) return "False"
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(value)
  if (typeof value === "string") return reprString(value)
  if (Array.isArray(value)) return `[${value.map(repr).join(", ")}]`
  if (typeof value === "object") {
    return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${reprString(k)}: ${repr(v)}`).join(", ")}}`
  }
  return String(value)
}

/** `repr()` of a tuple. */
export const reprTuple = (items: ReadonlyArray<unknown>): string =>
  items.length === 1 ? `(${repr(items[0])},)` : `(${items.map(repr).join(", ")})`

class DecodeError extends Error {}

/**
 * Validates `text` as JSON the way Python's `json.loads` does and returns its error message
 * (`"Expecting value: line 1 column 13 (char 12)"`), or `undefined` when the text is valid.
 */
export const jsonDecodeError = (text: string): string | undefined => {
  let pos = 0
  const where = (at: number) => {
    const before = text.slice(0, at)
    const line = before.split("\n").length
    const lastNl = before.lastIndexOf("\n")
    return `line ${line} column ${at - lastNl} (char ${at})`
  }
  const err = (msg: string, at: number): never => {
    throw new DecodeError(`${msg}: ${where(at)}`)
  }
  const ws = () => {
    while (pos < text.length && " \t\n\r".includes(text[pos]!)) pos++
  }
  const string = () => {
    const start = pos
    pos++
    while (pos < text.length) {
      const c = text[pos]!
      if (c === "\\") pos += 2
      else if (c === '"') {
        pos++
        return
      } else if (c < " ") err("Invalid control character at", pos)
      else pos++
    }
    err("Unterminated string starting at", start)
  }
  const value = (): void => {
    ws()
    const c = text[pos]
    if (c === undefined) return err("Expecting value", pos)
    if (c === "{") {
      pos++
      ws()
      if (text[pos] === "}") {
        pos++
        return
      }
      for (;;) {
        ws()
        if (text[pos] !== '"') return err("Expecting property name enclosed in double quotes", pos)
        string()
        ws()
        if (text[pos] !== ":") return err("Expecting ':' delimiter", pos)
        pos++
        value()
        ws()
        if (text[pos] === ",") {
          pos++
          continue
        }
        if (text[pos] === "}") {
          pos++
          return
        }
        return err("Expecting ',' delimiter", pos)
      }
    }
    if (c === "[") {
      pos++
      ws()
      if (text[pos] === "]") {
        pos++
        return
      }
      for (;;) {
        value()
        ws()
        if (text[pos] === ",") {
          pos++
          continue
        }
        if (text[pos] === "]") {
          pos++
          return
        }
        return err("Expecting ',' delimiter", pos)
      }
    }
    if (c === '"') return string()
    for (const lit of ["true", "false", "null", "NaN", "Infinity", "-Infinity"]) {
      if (text.startsWith(lit, pos)) {
        pos += lit.length
        return
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(pos))
    if (m !== null) {
      pos += m[0].length
      return
    }
    return err("Expecting value", pos)
  }
  try {
    value()
    ws()
    if (pos < text.length) err("Extra data", pos)
    return undefined
  } catch (e) {
    if (e instanceof DecodeError) return e.message
    throw e
  }
}
