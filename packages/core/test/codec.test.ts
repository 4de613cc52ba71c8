import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { makeCodec } from "../src/Codec.js"
import { ClientId, LogIndex, ReplicaId, RequestSeq, ViewNumber } from "../src/Ids.js"
import { RejectionReason } from "../src/Rejection.js"

// A small protocol: ids, a bigint and binary fields, as real messages have.
class Prepare extends Schema.TaggedClass<Prepare>()("Prepare", {
  view: ViewNumber,
  seq: LogIndex,
  replica: ReplicaId,
  digest: Schema.String.pipe(Schema.maxLength(64))
}) {}
class Request extends Schema.TaggedClass<Request>()("Request", {
  client: ClientId,
  seq: RequestSeq,
  amount: Schema.BigInt,
  op: Schema.Uint8ArrayFromBase64
}) {}
class Reply extends Schema.TaggedClass<Reply>()("Reply", {
  client: ClientId,
  seq: RequestSeq,
  replica: ReplicaId,
  result: Schema.Uint8ArrayFromBase64
}) {}
const Message = Schema.Union(Prepare, Request, Reply)
type Message = typeof Message.Type

const codec = makeCodec(Message, { maxBytes: 4096 })
const utf8 = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

const prepare = new Prepare({
  view: ViewNumber.make(3),
  seq: LogIndex.make(17),
  replica: ReplicaId.make(2),
  digest: "ab".repeat(32)
})
const request = new Request({
  client: ClientId.make("alice"),
  seq: RequestSeq.make(9),
  amount: -12345678901234567890n,
  op: new Uint8Array([0, 1, 2, 255])
})

const reasonOf = (r: Either.Either<unknown, { readonly reason: string }>) => (Either.isLeft(r) ? r.left.reason : "accepted")

/** The encoded JSON of `request`, edited. */
const requestJson = (edit: (o: Record<string, unknown>) => void) => {
  const o = JSON.parse(text(codec.encode(request))) as Record<string, unknown>
  edit(o)
  return utf8(JSON.stringify(o))
}

describe("Codec", () => {
  it("knows the tags of a union of TaggedClasses", () => {
    expect([...codec.tags].sort()).toEqual(["Prepare", "Reply", "Request"])
  })

  it("knows the tags of tagged structs and suspended (recursive) members", () => {
    const A = Schema.TaggedStruct("A", { x: Schema.Number })
    interface B { readonly _tag: "B"; readonly next: ReadonlyArray<B> }
    const B: Schema.Schema<B> = Schema.Struct({ _tag: Schema.Literal("B"), next: Schema.Array(Schema.suspend(() => B)) })
    expect([...makeCodec(Schema.Union(A, B)).tags].sort()).toEqual(["A", "B"])
  })

  it.prop("decode(encode(m)) is m, and re-encoding gives the same bytes", [Message], ([m]) => {
    const bytes = codec.encode(m)
    const back = codec.decode(bytes)
    expect(Either.isRight(back)).toBe(true)
    const decoded = Either.getOrThrow(back)
    expect(decoded).toEqual(m)
    expect(decoded).toBeInstanceOf(m.constructor)
    expect(codec.encode(decoded)).toEqual(bytes)
  })

  it("keeps bigint precision and binary fields", () => {
    const back = Either.getOrThrow(codec.decode(codec.encode(request))) as Request
    expect(back.amount).toBe(-12345678901234567890n)
    expect([...back.op]).toEqual([0, 1, 2, 255])
  })

  describe("rejects", () => {
    it("a payload over maxBytes as oversized, and accepts one at the limit", () => {
      const small = makeCodec(Message, { maxBytes: codec.encode(prepare).byteLength })
      expect(reasonOf(small.decode(codec.encode(prepare)))).toBe("accepted")
      const tooBig = makeCodec(Message, { maxBytes: codec.encode(prepare).byteLength - 1 })
      expect(reasonOf(tooBig.decode(codec.encode(prepare)))).toBe("oversized")
    })

    it("a payload truncated at every byte as malformed", () => {
      const bytes = codec.encode(request)
      for (let k = 0; k < bytes.byteLength; k++) {
        expect(reasonOf(codec.decode(bytes.slice(0, k))), `prefix of ${k} bytes`).toBe("malformed")
      }
    })

    it("malformed JSON", () => {
      for (const bad of ["{not json", "", "{\"_tag\":\"Prepare\",}", "[1,2", "nul"]) {
        expect(reasonOf(codec.decode(utf8(bad))), bad).toBe("malformed")
      }
    })

    it("invalid UTF-8 (bad continuation, overlong, lone surrogate, leading BOM) as malformed", () => {
      const valid = codec.encode(prepare)
      const at = text(valid).indexOf("abab")
      const cases = [[0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff]]
      for (const seq of cases) {
        const bad = new Uint8Array([...valid.slice(0, at), ...seq, ...valid.slice(at + seq.length)])
        const r = codec.decode(bad)
        expect(reasonOf(r), seq.join(",")).toBe("malformed")
        expect(Either.isLeft(r) && r.left.detail).toMatch(/UTF-8/)
      }
      expect(reasonOf(codec.decode(new Uint8Array([0xef, 0xbb, 0xbf, ...valid])))).toBe("malformed")
    })

    it("an unknown, missing or non-string tag, and non-object JSON, as unknown-tag", () => {
      const cases = [
        requestJson((o) => (o._tag = "Commit")),
        requestJson((o) => delete o._tag),
        requestJson((o) => (o._tag = 7)),
        requestJson((o) => (o._tag = "__proto__")),
        utf8("[\"Prepare\"]"),
        utf8("\"Prepare\""),
        utf8("null"),
        utf8("42")
      ]
      for (const bad of cases) expect(reasonOf(codec.decode(bad)), text(bad)).toBe("unknown-tag")
    })

    it("fields of the wrong type or out of range as malformed", () => {
      const cases: Array<[string, Uint8Array]> = [
        ["seq as string", requestJson((o) => (o.seq = "9"))],
        ["negative seq", requestJson((o) => (o.seq = -1))],
        ["fractional seq", requestJson((o) => (o.seq = 1.5))],
        ["bigint not digits", requestJson((o) => (o.amount = "12abc"))],
        ["bigint as number", requestJson((o) => (o.amount = 12))],
        ["bad base64", requestJson((o) => (o.op = "***"))],
        ["client id with a slash", requestJson((o) => (o.client = "a/b"))],
        ["empty client id", requestJson((o) => (o.client = ""))],
        ["missing field", requestJson((o) => delete o.amount)],
        ["excess field", requestJson((o) => (o.extra = 1))],
        ["replica out of range", utf8(JSON.stringify({ ...JSON.parse(text(codec.encode(prepare))), replica: 1024 }))],
        ["digest too long", utf8(JSON.stringify({ ...JSON.parse(text(codec.encode(prepare))), digest: "a".repeat(65) }))]
      ]
      for (const [name, bad] of cases) expect(reasonOf(codec.decode(bad)), name).toBe("malformed")
    })

    it("a schema transformation that throws as malformed, without throwing", () => {
      const Throwing = Schema.TaggedStruct("T", {
        x: Schema.transform(Schema.String, Schema.String, {
          decode: () => {
            throw new Error("boom")
          },
          encode: (s) => s
        })
      })
      const r = makeCodec(Throwing).decode(utf8("{\"_tag\":\"T\",\"x\":\"a\"}"))
      expect(reasonOf(r)).toBe("malformed")
    })

    it.prop("arbitrary bytes: never throws, a Rejection with a known reason or a valid message", [fc.uint8Array({ maxLength: 300 })], ([bytes]) => {
      const r = codec.decode(bytes)
      if (Either.isLeft(r)) expect(Schema.is(RejectionReason)(r.left.reason)).toBe(true)
      else expect(Schema.is(Message)(r.right)).toBe(true)
    })

    it.prop("arbitrary JSON: never throws, a Rejection or a valid message", [fc.json({ maxDepth: 4 })], ([json]) => {
      const r = codec.decode(utf8(json))
      if (Either.isLeft(r)) expect(Schema.is(RejectionReason)(r.left.reason)).toBe(true)
      else expect(Schema.is(Message)(r.right)).toBe(true)
    })
  })
})
