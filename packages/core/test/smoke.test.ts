import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

describe("smoke", () => {
  it.effect("runs", () => Effect.gen(function*() {
    expect(yield* Effect.succeed(1)).toBe(1)
  }))
})
