import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Option, Queue, Ref, Scope } from "effect"
import * as Actor from "../src/Actor.js"
import * as Metrics from "../src/Metrics.js"

type Msg =
  | { readonly _tag: "Add"; readonly n: number }
  | { readonly _tag: "Get"; readonly reply: Deferred.Deferred<number> }
  | { readonly _tag: "Div"; readonly by: number; readonly reply: Deferred.Deferred<number, "division-by-zero"> }
  | { readonly _tag: "Wait"; readonly gate: Deferred.Deferred<void> }
  | { readonly _tag: "Crash" }
  | { readonly _tag: "Die" }

class Boom {
  readonly _tag = "Boom"
}

/** A counter actor whose failures go to a queue the test reads. */
const counter = (name: string, options: { capacity?: number; maxBatch?: number; onDrained?: Effect.Effect<void> } = {}) =>
  Effect.gen(function*() {
    const { failures, supervisor } = yield* Actor.queueSupervisor()
    const ref = yield* Actor.makeStateful<Msg, number, Boom>({
      name,
      supervisor,
      initial: 0,
      ...options,
      receive: (n, msg) => {
        switch (msg._tag) {
          case "Add":
            return Effect.succeed(n + msg.n)
          case "Get":
            return Effect.as(Deferred.succeed(msg.reply, n), n)
          case "Div":
            return Effect.as(msg.by === 0 ? Deferred.fail(msg.reply, "division-by-zero") : Deferred.succeed(msg.reply, n / msg.by), n)
          case "Wait":
            return Effect.as(Deferred.await(msg.gate), n)
          case "Crash":
            return Effect.fail(new Boom())
          case "Die":
            return Effect.dieMessage("invariant broken")
        }
      }
    })
    return { ref, failures }
  })

/** Wait until the actor has taken every queued message. */
const drained = (ref: Actor.ActorRef<Msg, Boom>) =>
  Effect.gen(function*() {
    while ((yield* ref.depth) > 0) yield* Effect.yieldNow()
    yield* Effect.yieldNow()
  })

describe("Actor", () => {
  it.scoped("processes messages in order and answers asks", () =>
    Effect.gen(function*() {
      const { ref } = yield* counter("order")
      yield* ref.tell({ _tag: "Add", n: 2 })
      yield* ref.tell({ _tag: "Add", n: 3 })
      expect(yield* ref.ask<number>((reply) => ({ _tag: "Get", reply }))).toBe(5)
      yield* ref.tell({ _tag: "Add", n: -1 })
      expect(yield* ref.ask<number>((reply) => ({ _tag: "Get", reply }))).toBe(4)
    }))

  it.scoped("returns typed errors from ask", () =>
    Effect.gen(function*() {
      const { ref } = yield* counter("typed")
      yield* ref.tell({ _tag: "Add", n: 8 })
      expect(yield* ref.ask<number, "division-by-zero">((reply) => ({ _tag: "Div", by: 2, reply }))).toBe(4)
      const error = yield* Effect.flip(ref.ask<number, "division-by-zero">((reply) => ({ _tag: "Div", by: 0, reply })))
      expect(error).toBe("division-by-zero")
    }))

  it.scoped("fails tell with MailboxFull beyond its capacity, counts it, and shows the depth", () =>
    Effect.gen(function*() {
      const { ref } = yield* counter("full", { capacity: 3 })
      const gate = yield* Deferred.make<void>()
      yield* ref.tell({ _tag: "Wait", gate })
      // let the actor take the Wait message and block on the gate
      yield* drained(ref)
      for (let i = 0; i < 3; i++) yield* ref.tell({ _tag: "Add", n: 1 })
      expect(yield* ref.depth).toBe(3)
      expect(yield* Metrics.gaugeValue(Metrics.mailboxDepth, { actor: "full" })).toBe(3)
      const error = yield* Effect.flip(ref.tell({ _tag: "Add", n: 100 }))
      expect(error).toEqual(new Actor.MailboxFull({ actor: "full", capacity: 3 }))
      expect(yield* Metrics.counterValue(Metrics.mailboxRejected, { actor: "full" })).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      yield* drained(ref)
      expect(yield* ref.ask<number>((reply) => ({ _tag: "Get", reply }))).toBe(3)
      expect(yield* Metrics.gaugeValue(Metrics.mailboxDepth, { actor: "full" })).toBe(0)
    }))

  it.scoped("reports a failure to its supervisor, stops, and refuses further messages", () =>
    Effect.gen(function*() {
      const { failures, ref } = yield* counter("crash")
      yield* ref.tell({ _tag: "Crash" })
      const failure = yield* Queue.take(failures)
      expect(failure.actor).toBe("crash")
      expect(Option.getOrThrow(Cause.failureOption(failure.cause))).toBeInstanceOf(Boom)
      const exit = yield* ref.await
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* Effect.flip(ref.tell({ _tag: "Add", n: 1 }))).toEqual(new Actor.ActorStopped({ actor: "crash" }))
      expect(yield* Metrics.counterValue(Metrics.actorFailures, { actor: "crash" })).toBe(1)
    }))

  it.scoped("reports a defect, and fails a pending ask with ActorStopped", () =>
    Effect.gen(function*() {
      const { failures, ref } = yield* counter("die")
      const gate = yield* Deferred.make<void>()
      yield* ref.tell({ _tag: "Wait", gate })
      yield* ref.tell({ _tag: "Die" })
      const asked = yield* Effect.fork(Effect.flip(ref.ask<number>((reply) => ({ _tag: "Get", reply }))))
      yield* Deferred.succeed(gate, undefined)
      const failure = yield* Queue.take(failures)
      expect(Cause.isDie(failure.cause)).toBe(true)
      expect(Cause.pretty(failure.cause)).toContain("invariant broken")
      expect(yield* asked.await.pipe(Effect.flatten)).toEqual(new Actor.ActorStopped({ actor: "die" }))
    }))

  it.effect("stops with its scope, without reporting a failure", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { failures, ref } = yield* counter("scoped").pipe(Scope.extend(scope))
      yield* ref.tell({ _tag: "Add", n: 1 })
      yield* Scope.close(scope, Exit.void)
      const exit = yield* ref.await
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* Queue.size(failures)).toBe(0)
      expect((yield* Effect.flip(ref.tell({ _tag: "Add", n: 1 })))._tag).toBe("ActorStopped")
    }))

  it.scoped("stop interrupts the actor", () =>
    Effect.gen(function*() {
      const { failures, ref } = yield* counter("stop")
      yield* ref.stop
      expect(Exit.isInterrupted(yield* ref.await)).toBe(true)
      expect(yield* Queue.size(failures)).toBe(0)
    }))

  it.scoped("runs onDrained once per batch of at most maxBatch messages", () =>
    Effect.gen(function*() {
      const batches = yield* Ref.make(0)
      const { ref } = yield* counter("batch", { maxBatch: 4, onDrained: Ref.update(batches, (n) => n + 1) })
      const gate = yield* Deferred.make<void>()
      yield* ref.tell({ _tag: "Wait", gate })
      yield* drained(ref)
      const before = yield* Ref.get(batches)
      for (let i = 0; i < 10; i++) yield* ref.tell({ _tag: "Add", n: 1 })
      yield* Deferred.succeed(gate, undefined)
      expect(yield* ref.ask<number>((reply) => ({ _tag: "Get", reply }))).toBe(10)
      // Wait's batch, then 10 Adds + Get in batches of 4: 3 more batches
      expect((yield* Ref.get(batches)) - before).toBe(4)
    }))

  it.scoped("refuses a bad capacity", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(counter("bad", { capacity: 0 }))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
    }))
})
