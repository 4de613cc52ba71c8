/**
 * The sequential specification of one register with get/put/delete/cas, on
 * interned values: state 0 is "absent", states >= 1 are value ids.
 *
 * Two more states serve the witness minimizer, which checks sub-histories
 * whose starting value is unknown: ANY (could be any value or absent) and
 * NOT(e) (anything but value e). They over-approximate: from them, more
 * histories are accepted than from any concrete state, so a sub-history
 * rejected from ANY is rejected from every concrete start.
 */

export const GET = 0
export const PUT = 1
export const DELETE = 2
/** A cas that swapped (or, when unknown, the only outcome worth linearizing: the one that swaps). */
export const CAS_SWAPPED = 3
/** A cas that saw a value other than `expected`; it reads and changes nothing. */
export const CAS_FAILED = 4

export const ABSENT = 0
export const ANY = -1
/** Not a state: the operation is not allowed from the given state. */
export const INVALID = -0x7fffffff

const not = (value: number): number => -2 - value

/** True for operations that read the state without changing it. */
export const isReadOnly = (kind: number): boolean => kind === GET || kind === CAS_FAILED

/**
 * The state after applying the operation, or INVALID. `a1` is the read result
 * (get), the written value (put) or `expected` (cas); `a2` is the cas's new value.
 */
export const step = (state: number, kind: number, a1: number, a2: number): number => {
  switch (kind) {
    case GET:
      if (state >= 0) return state === a1 ? state : INVALID
      return state === ANY || not(state) !== a1 ? a1 : INVALID
    case PUT:
      return a1
    case DELETE:
      return ABSENT
    case CAS_SWAPPED:
      if (state >= 0) return state === a1 ? a2 : INVALID
      return state === ANY || not(state) !== a1 ? a2 : INVALID
    default:
      if (state >= 0) return state !== a1 ? state : INVALID
      // From NOT(e) a failed cas on e' would leave NOT(e) and NOT(e'); keeping NOT(e) over-approximates.
      return state === ANY ? not(a1) : state
  }
}
