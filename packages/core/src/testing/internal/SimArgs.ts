/**
 * The simulator's command line, in one place: `tools/sim.ts` parses it and
 * every run formats the exact command that replays it, so the two can never
 * drift apart (a test parses the replay command back).
 */
import { isStrategy, type Strategy } from "../Adversary.js"
import { isSeed } from "../Prng.js"
import { FAULT_KEYS, type FaultOptions } from "./Faults.js"

export interface SimArgs {
  readonly protocol: string
  /** First seed. */
  readonly seed: number
  /** How many consecutive seeds to run, starting at `seed`. */
  readonly seeds: number
  readonly replicas?: number
  readonly byzantine?: number
  readonly byzantineReplicas?: ReadonlyArray<number>
  readonly strategies?: ReadonlyArray<Strategy>
  readonly clients?: number
  readonly requests?: number
  readonly safetyTicks?: number
  readonly livenessTicks?: number
  readonly faults?: Partial<FaultOptions>
  readonly stateMachine?: string
}

export const USAGE = `usage: npm run sim -- --protocol <paxos|pbft|reference|...> [--seeds <N>] [--seed <S>]
  [--replicas <n>] [--byzantine <k>] [--byzantine-replicas <r,r>] [--strategies <s,s>]
  [--clients <c>] [--requests <per client>] [--safety-ticks <t>] [--liveness-ticks <t>]
  [--faults drop=0.02,duplicate=0.01,reorder=1,partitions=1,crashes=1,unsyncedLoss=0.5,clockSkew=0]
  [--state-machine <kv|...>]`

const int = (flag: string, v: string | undefined, min: number): number => {
  const n = Number(v)
  if (v === undefined || !Number.isSafeInteger(n) || n < min) throw new Error(`${flag} needs an integer >= ${min}, got ${v}`)
  return n
}

const intList = (flag: string, v: string | undefined): Array<number> =>
  (v ?? "").split(",").filter((s) => s !== "").map((s) => int(flag, s, 0))

const parseFaults = (v: string | undefined): Partial<FaultOptions> => {
  const out: Record<string, number | boolean> = {}
  for (const part of (v ?? "").split(",").filter((s) => s !== "")) {
    const [k, val] = part.split("=")
    const key = FAULT_KEYS.find((f) => f === k)
    const num = Number(val)
    if (key === undefined || val === undefined || !Number.isFinite(num) || num < 0 || num > 1) {
      throw new Error(`--faults: bad entry ${part} (keys: ${FAULT_KEYS.join(", ")}; values in [0, 1])`)
    }
    out[key] = key === "reorder" || key === "partitions" || key === "crashes" || key === "clockSkew" ? num !== 0 : num
  }
  return out as Partial<FaultOptions>
}

/** Parse argv (without node and script); throws an Error with a readable message. */
export const parseSimArgs = (argv: ReadonlyArray<string>): SimArgs => {
  const a: { -readonly [K in keyof SimArgs]?: SimArgs[K] } = {}
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const v = argv[i + 1]
    i++
    switch (flag) {
      case "--protocol":
        if (v === undefined) throw new Error("--protocol needs a name")
        a.protocol = v
        break
      case "--seed": {
        const n = Number(v)
        if (!isSeed(n) || v === undefined) throw new Error(`--seed needs a non-negative integer, got ${v}`)
        a.seed = n
        break
      }
      case "--seeds":
        a.seeds = int(flag, v, 1)
        break
      case "--replicas":
        a.replicas = int(flag, v, 1)
        break
      case "--byzantine":
        a.byzantine = int(flag, v, 0)
        break
      case "--byzantine-replicas":
        a.byzantineReplicas = intList(flag, v)
        break
      case "--strategies": {
        const list = (v ?? "").split(",").filter((s) => s !== "")
        const bad = list.find((s) => !isStrategy(s))
        if (bad !== undefined || list.length === 0) throw new Error(`--strategies: unknown strategy ${bad ?? "(none)"}`)
        a.strategies = list as Array<Strategy>
        break
      }
      case "--clients":
        a.clients = int(flag, v, 1)
        break
      case "--requests":
        a.requests = int(flag, v, 1)
        break
      case "--safety-ticks":
        a.safetyTicks = int(flag, v, 0)
        break
      case "--liveness-ticks":
        a.livenessTicks = int(flag, v, 1)
        break
      case "--faults":
        a.faults = parseFaults(v)
        break
      case "--state-machine":
        if (v === undefined) throw new Error("--state-machine needs a name")
        a.stateMachine = v
        break
      default:
        throw new Error(`unknown argument ${flag}\n${USAGE}`)
    }
  }
  if (a.protocol === undefined) throw new Error(`--protocol is required\n${USAGE}`)
  return { ...a, protocol: a.protocol, seed: a.seed ?? 1, seeds: a.seeds ?? 1 }
}

/** The command that replays exactly one run. */
export const formatReplay = (a: Omit<SimArgs, "seeds">): string => {
  const parts = ["npm run sim --", "--protocol", a.protocol, "--seed", String(a.seed)]
  const add = (flag: string, v: string | number | undefined) => {
    if (v !== undefined) parts.push(flag, String(v))
  }
  add("--replicas", a.replicas)
  add("--byzantine", a.byzantine)
  add("--byzantine-replicas", a.byzantineReplicas?.join(","))
  add("--strategies", a.strategies?.join(","))
  add("--clients", a.clients)
  add("--requests", a.requests)
  add("--safety-ticks", a.safetyTicks)
  add("--liveness-ticks", a.livenessTicks)
  if (a.faults !== undefined && Object.keys(a.faults).length > 0) {
    add("--faults", Object.entries(a.faults).map(([k, v]) => `${k}=${typeof v === "boolean" ? (v ? 1 : 0) : v}`).join(","))
  }
  add("--state-machine", a.stateMachine)
  return parts.join(" ")
}
