/**
 * Schema-driven encoding of one protocol's message union to bytes.
 *
 * The payload is the Schema-encoded form as JSON (UTF-8). JSON keeps frames
 * inspectable and is fast in V8; the Schema does validation and branding, so a
 * decoded message is as well-typed as one we built ourselves. Decoding never
 * throws: every failure is a `Rejection` with a reason.
 */
import { Either, ParseResult, Schema } from "effect"
import { type Rejection, reject } from "./Rejection.js"

export interface Codec<M> {
  /** Message `_tag`s this codec knows. */
  readonly tags: ReadonlySet<string>
  /** Largest payload accepted by `decode`, in bytes. */
  readonly maxBytes: number
  encode(message: M): Uint8Array
  decode(bytes: Uint8Array): Either.Either<M, Rejection>
}

export interface CodecOptions {
  /** Largest payload accepted, in bytes. Default 4 MiB. */
  readonly maxBytes?: number
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder("utf-8", { fatal: true })

/** Collect the `_tag` literals of a union of tagged schemas. */
const tagsOf = (schema: Schema.Schema.Any): Set<string> => {
  const tags = new Set<string>()
  const visit = (ast: Schema.Schema.Any["ast"]): void => {
    switch (ast._tag) {
      case "Union":
        ast.types.forEach(visit)
        return
      case "Transformation":
        visit(ast.to)
        return
      case "Refinement":
        visit(ast.from)
        return
      case "Suspend":
        visit(ast.f())
        return
      case "TypeLiteral": {
        const tag = ast.propertySignatures.find((p) => p.name === "_tag")
        if (tag !== undefined && tag.type._tag === "Literal" && typeof tag.type.literal === "string") {
          tags.add(tag.type.literal)
        }
        return
      }
      default:
        return
    }
  }
  visit(schema.ast)
  return tags
}

export const makeCodec = <M, I>(schema: Schema.Schema<M, I, never>, options: CodecOptions = {}): Codec<M> => {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_PAYLOAD_BYTES
  const tags = tagsOf(schema)
  const encodeSync = Schema.encodeSync(schema)
  const decodeEither = Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "error" })
  return {
    tags,
    maxBytes,
    encode: (message) => textEncoder.encode(JSON.stringify(encodeSync(message))),
    decode: (bytes) => {
      if (bytes.byteLength > maxBytes) {
        return Either.left(reject("oversized", `payload of ${bytes.byteLength} bytes exceeds ${maxBytes}`))
      }
      let json: unknown
      try {
        json = JSON.parse(textDecoder.decode(bytes))
      } catch (e) {
        return Either.left(reject("malformed", `payload is not UTF-8 JSON: ${String(e).slice(0, 120)}`))
      }
      if (tags.size > 0) {
        const tag = typeof json === "object" && json !== null ? (json as { _tag?: unknown })._tag : undefined
        if (typeof tag !== "string" || !tags.has(tag)) {
          return Either.left(reject("unknown-tag", `unknown message tag ${JSON.stringify(tag)?.slice(0, 64)}`))
        }
      }
      return Either.mapLeft(
        decodeEither(json),
        (e) => reject("malformed", ParseResult.TreeFormatter.formatErrorSync(e).slice(0, 500))
      )
    }
  }
}
