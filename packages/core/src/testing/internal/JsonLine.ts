/**
 * A strict reader for one line of a history file: a flat JSON object whose
 * values are scalars. We do not use `JSON.parse` on the whole line because it
 * rounds integers above 2^53, and history times come from
 * `process.hrtime.bigint()`: numbers are kept as their literal text so the
 * caller can read them exactly.
 */

export type JsonScalar =
  | { readonly kind: "string"; readonly value: string; readonly column: number }
  | { readonly kind: "number"; readonly literal: string; readonly column: number }
  | { readonly kind: "boolean"; readonly value: boolean; readonly column: number }
  | { readonly kind: "null"; readonly column: number }

export interface JsonLineError {
  /** 1-based column of the offending character. */
  readonly column: number
  readonly reason: string
}

// Sticky patterns of RFC 8259 tokens.
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const WHITESPACE = /[ \t\r\n]*/y

/** Parses `text` as one flat JSON object, rejecting duplicate and nested members. */
export const parseFlatObject = (
  text: string
): { readonly fields: ReadonlyMap<string, JsonScalar> } | { readonly error: JsonLineError } => {
  let at = 0
  const fail = (reason: string, column = at + 1) => ({ error: { column, reason } })
  const skipWhitespace = () => {
    WHITESPACE.lastIndex = at
    WHITESPACE.exec(text)
    at = WHITESPACE.lastIndex
  }
  const readString = (): string | undefined => {
    STRING.lastIndex = at
    const match = STRING.exec(text)
    if (match === null) return undefined
    at = STRING.lastIndex
    // The token was validated above, so JSON.parse only decodes escapes here.
    return JSON.parse(match[0]) as string
  }
  const fields = new Map<string, JsonScalar>()

  skipWhitespace()
  if (text[at] !== "{") return fail("expected '{' (each line is one JSON object)")
  at++
  skipWhitespace()
  if (text[at] === "}") {
    at++
  } else {
    for (;;) {
      const keyColumn = at + 1
      const key = readString()
      if (key === undefined) return fail("expected a member name in double quotes")
      if (fields.has(key)) return fail(`duplicate member "${key}"`, keyColumn)
      skipWhitespace()
      if (text[at] !== ":") return fail("expected ':'")
      at++
      skipWhitespace()
      const column = at + 1
      const c = text[at]
      if (c === "\"") {
        const value = readString()
        if (value === undefined) return fail("invalid string")
        fields.set(key, { kind: "string", value, column })
      } else if (c === "{" || c === "[") {
        return fail(`member "${key}" must be a scalar, not an object or array`)
      } else if (text.startsWith("true", at)) {
        at += 4
        fields.set(key, { kind: "boolean", value: true, column })
      } else if (text.startsWith("false", at)) {
        at += 5
        fields.set(key, { kind: "boolean", value: false, column })
      } else if (text.startsWith("null", at)) {
        at += 4
        fields.set(key, { kind: "null", column })
      } else {
        NUMBER.lastIndex = at
        const match = NUMBER.exec(text)
        if (match === null) return fail(`invalid value for member "${key}"`)
        at = NUMBER.lastIndex
        fields.set(key, { kind: "number", literal: match[0], column })
      }
      skipWhitespace()
      if (text[at] === ",") {
        at++
        skipWhitespace()
        continue
      }
      if (text[at] === "}") {
        at++
        break
      }
      return fail("expected ',' or '}'")
    }
  }
  skipWhitespace()
  if (at < text.length) return fail("unexpected text after the object")
  return { fields }
}
