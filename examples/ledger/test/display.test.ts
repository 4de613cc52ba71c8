import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { finalLines, type Frame, liveLines, plainLine, type ReplicaRow } from "../src/demo/Display.js"
import { Screen } from "../src/demo/Screen.js"
import type { ReplicaStatus } from "../src/ReplicaStatus.js"
import { plain, type Terminal } from "../src/Terminal.js"

const status = (replica: number, over: Partial<ReplicaStatus> = {}): ReplicaStatus => ({
  replica,
  peer: `replica/${replica}`,
  pid: 1,
  byzantine: null,
  role: replica === 1 ? "primary" : "backup",
  view: 1,
  primary: 1,
  lastCommitted: 130,
  lastExecuted: 129,
  stableCheckpoint: { seq: 128, digest: "c" },
  stateDigest: "0123456789abcdef0123",
  supply: 4000n,
  minted: 4000n,
  accounts: 4,
  operations: 100,
  executed: 100,
  viewChanges: 1,
  evidence: 0,
  rejected: 0,
  stateTransfers: 0,
  byzantineActions: {},
  uptimeMs: 1,
  ...over
})

const rows: ReadonlyArray<ReplicaRow> = [
  { id: 0, byzantine: "equivocate", state: "up", status: status(0, { byzantine: "equivocate", byzantineActions: { "equivocate/split": 40, "equivocate/single": 2 } }) },
  { id: 1, byzantine: undefined, state: "up", status: status(1, { evidence: 3 }) },
  { id: 2, byzantine: undefined, state: "down", status: undefined },
  { id: 3, byzantine: undefined, state: "up", status: status(3, { stateTransfers: 1 }) }
]

const frame: Frame = {
  title: "synod ledger demo",
  elapsedSeconds: 12.34,
  durationSeconds: 30,
  rows,
  throughput: 153.2,
  applied: 1203,
  refused: 12,
  unknown: 0,
  phase: "running"
}

describe("demo display", () => {
  it("the live table has a row per replica with role, view, sequence numbers, checkpoint, digest and supply", () => {
    const lines = liveLines(frame, plain)
    expect(lines[0]).toBe("synod ledger demo · 12.3 s of 30 s")
    expect(lines[1]).toMatch(/replica\s+role\s+view\s+committed\s+executed\s+stable cp\s+state\s+supply/)
    expect(lines[2]).toMatch(/0 byzantine\s+backup\s+1\s+130\s+129\s+128\s+0123456789ab\s+4000\s+equivocate ×42/)
    expect(lines[3]).toMatch(/1\s+primary\s+1\s+130\s+129\s+128\s+0123456789ab\s+4000\s+3 evidence/)
    expect(lines[4]).toMatch(/2\s+down(\s+-){6}/)
    expect(lines[5]).toMatch(/3\s+backup .* 1 state transfer$/)
    expect(lines[6]).toBe("  153 transfers/s · applied 1203 · refused 12")
    expect(liveLines({ ...frame, elapsedSeconds: 33, phase: "resolving" }, plain)[0]).toBe("synod ledger demo · 30 s of traffic done · resolving")
  })

  it("the plain line summarizes every replica on one line", () => {
    expect(plainLine(frame)).toBe(
      "[ 12.3s] 153 tx/s, applied 1203, refused 12 | r0(byz) backup v1 exec 129 cp 128 | r1 primary v1 exec 129 cp 128 | r2 down | r3 backup v1 exec 129 cp 128"
    )
  })

  it("the final table shows view, executed sequence number, digest, supply and minted", () => {
    const lines = finalLines(rows, plain)
    expect(lines[0]).toMatch(/replica\s+view\s+executed\s+state digest\s+supply\s+minted/)
    expect(lines[1]).toMatch(/0 byzantine\s+1\s+129\s+0123456789abcdef\s+4000\s+4000/)
    expect(lines[3]).toMatch(/2\s+-\s+-\s+down/)
  })

  it.effect("on a terminal, each frame replaces the last and event lines scroll above it", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const term: Terminal = {
        out: (l) => Effect.sync(() => void written.push(`${l}\n`)),
        err: () => Effect.void,
        raw: (t) => Effect.sync(() => void written.push(t)),
        tty: true,
        style: plain
      }
      const screen = new Screen(term)
      yield* screen.frame(["a", "b"])
      yield* screen.frame(["c", "d", "e"])
      yield* screen.line("event")
      yield* screen.frame(["f"])
      expect(written).toEqual([
        "a\x1b[K\nb\x1b[K\n",
        "\x1b[2F\x1b[Jc\x1b[K\nd\x1b[K\ne\x1b[K\n",
        "\x1b[3F\x1b[Jevent\n",
        "f\x1b[K\n"
      ])
    }))
})
