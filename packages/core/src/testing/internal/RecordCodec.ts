/**
 * A codec for flat tagged records (every field a number, string or boolean),
 * validated by a field table instead of a Schema walk. The reference protocol
 * uses it so that the simulator's hot path measures the simulator, not the
 * generic Schema decoder. Same contract as `makeCodec`: decoding never throws,
 * every failure is a `Rejection`, and exactly the declared fields are accepted.
 */
import { Either } from "effect"
import type { Codec } from "../../Codec.js"
import { type Rejection, reject } from "../../Rejection.js"

export type FieldKind =
  | { readonly kind: "nat" }
  | { readonly kind: "positive" }
  | { readonly kind: "bool" }
  | { readonly kind: "string"; readonly maxLength: number }

export const nat: FieldKind = { kind: "nat" }
export const positive: FieldKind = { kind: "positive" }
export const bool: FieldKind = { kind: "bool" }
export const string = (maxLength: number): FieldKind => ({ kind: "string", maxLength })

/** Tag -> field name -> kind (`_tag` is implied). */
export type RecordSpec = Readonly<Record<string, Readonly<Record<string, FieldKind>>>>

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const valid = (k: FieldKind, v: unknown): boolean => {
  switch (k.kind) {
    case "nat":
      return typeof v === "number" && Number.isSafeInteger(v) && v >= 0
    case "positive":
      return typeof v === "number" && Number.isSafeInteger(v) && v > 0
    case "bool":
      return typeof v === "boolean"
    case "string":
      return typeof v === "string" && v.length <= k.maxLength
  }
}

export const recordCodec = <M extends { readonly _tag: string }>(spec: RecordSpec, maxBytes: number): Codec<M> => {
  const tables = new Map(Object.entries(spec).map(([tag, fields]) => [tag, Object.entries(fields)] as const))
  const check = (json: unknown): Either.Either<M, Rejection> => {
    if (typeof json !== "object" || json === null || Array.isArray(json)) return Either.left(reject("malformed", "payload is not an object"))
    const record = json as Record<string, unknown>
    const tag = record._tag
    const fields = typeof tag === "string" ? tables.get(tag) : undefined
    if (fields === undefined) return Either.left(reject("unknown-tag", `unknown message tag ${String(JSON.stringify(tag)).slice(0, 64)}`))
    let count = 1
    for (const [name, kind] of fields) {
      if (!valid(kind, record[name])) return Either.left(reject("malformed", `${tag}.${name} is not a valid ${kind.kind}`))
      count++
    }
    if (Object.keys(record).length !== count) return Either.left(reject("malformed", `${tag} has unexpected fields`))
    return Either.right(record as unknown as M)
  }
  return {
    tags: new Set(tables.keys()),
    maxBytes,
    encodeText: (message) => JSON.stringify(message),
    encode: (message) => textEncoder.encode(JSON.stringify(message)),
    decode: (bytes) => {
      if (bytes.byteLength > maxBytes) return Either.left(reject("oversized", `payload of ${bytes.byteLength} bytes exceeds ${maxBytes}`))
      let json: unknown
      try {
        json = JSON.parse(textDecoder.decode(bytes))
      } catch {
        return Either.left(reject("malformed", "payload is not UTF-8 JSON"))
      }
      return check(json)
    }
  }
}
