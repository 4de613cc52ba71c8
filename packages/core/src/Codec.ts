/**
 * Schema-driven encoding of one protocol's message union to bytes.
 *
 * The payload is the Schema-encoded form as JSON (UTF-8). JSON keeps frames
 * inspectable and is fast in V8; the Schema does validation and branding, so a
 * decoded message is as well-typed as one we built ourselves. Decoding never
 * throws: every failure is a `Rejection` with a reason.
 */
import { Either, ParseResult, Schema, SchemaAST as AST } from "effect"
import { type Rejection, reject } from "./Rejection.js"

export interface Codec<M> {
  /** Message `_tag`s this codec knows. */
  readonly tags: ReadonlySet<string>
  /** Largest payload accepted by `decode`, in bytes. */
  readonly maxBytes: number
  encode(message: M): Uint8Array
  decode(bytes: Uint8Array): Either.Either<M, Rejection>
  /**
   * Optional: the payload as text, whose UTF-8 bytes are exactly
   * `encode(message)`. With it, `Envelope.seal` writes the payload straight
   * into the frame instead of allocating it on its own first.
   */
  encodeText?(message: M): string
}

export interface CodecOptions {
  /** Largest payload accepted, in bytes. Default 4 MiB. */
  readonly maxBytes?: number
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024

const textEncoder = new TextEncoder()
// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a leading BOM is kept
// (and then fails JSON.parse), so one message has exactly one accepted encoding.
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * Collect the `_tag` literals of a union of tagged schemas, as they appear on
 * the wire. We walk the encoded side of the AST: a `Schema.TaggedClass` is a
 * Transformation whose type side is an opaque Declaration, while its encoded
 * side is the TypeLiteral that carries the `_tag` literal.
 */
const tagsOf = (schema: Schema.Schema.Any): Set<string> => {
  const tags = new Set<string>()
  const seen = new Set<AST.AST>()
  const visit = (ast: AST.AST): void => {
    if (seen.has(ast)) return // recursive (Suspend) schemas
    seen.add(ast)
    switch (ast._tag) {
      case "Union":
        ast.types.forEach(visit)
        return
      case "Transformation":
        visit(ast.from)
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
  visit(AST.encodedAST(schema.ast))
  return tags
}

export const makeCodec = <M, I>(schema: Schema.Schema<M, I, never>, options: CodecOptions = {}): Codec<M> => {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_PAYLOAD_BYTES
  const tags = tagsOf(schema)
  const encodeSync = Schema.encodeSync(schema)
  const decodeEither = Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "error" })
  const encodeText = (message: M): string => JSON.stringify(encodeSync(message))
  return {
    tags,
    maxBytes,
    encodeText,
    encode: (message) => textEncoder.encode(encodeText(message)),
    decode: (bytes) => {
      if (bytes.byteLength > maxBytes) {
        return Either.left(reject("oversized", `payload of ${bytes.byteLength} bytes exceeds ${maxBytes}`))
      }
      let text: string
      try {
        text = textDecoder.decode(bytes)
      } catch {
        return Either.left(reject("malformed", "payload is not valid UTF-8"))
      }
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch (e) {
        // A payload cut short is indistinguishable from any other bad JSON here:
        // the payload has no length of its own (the envelope's length prefixes
        // are what detect truncation on the wire).
        return Either.left(reject("malformed", `payload is not JSON: ${String(e).slice(0, 120)}`))
      }
      if (tags.size > 0) {
        const tag = typeof json === "object" && json !== null && !Array.isArray(json)
          ? (json as { _tag?: unknown })._tag
          : undefined
        if (typeof tag !== "string" || !tags.has(tag)) {
          return Either.left(reject("unknown-tag", `unknown message tag ${String(JSON.stringify(tag)).slice(0, 64)}`))
        }
      }
      try {
        return Either.mapLeft(
          decodeEither(json),
          (e) => reject("malformed", ParseResult.TreeFormatter.formatErrorSync(e).slice(0, 500))
        )
      } catch (e) {
        // a user schema's transformation threw: still a rejection, never a crash
        return Either.left(reject("malformed", `payload decoding threw: ${String(e).slice(0, 120)}`))
      }
    }
  }
}
