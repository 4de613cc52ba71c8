/**
 * The sequential specification of one register with get/put/delete/cas, on
 * interned values: state 0 is "absent", states >= 1 are value ids.
 */

export const GET = 0
export const PUT = 1
export const DELETE = 2
/** A cas that swapped (or, when unknown, the only outcome worth linearizing: the one that swaps). */
export const CAS_SWAPPED = 3
/** A cas that saw a value other than `expected`; it reads and changes nothing. */
export const CAS_FAILED = 4

export const ABSENT = 0
/** Not a state: the operation is not allowed from the given state. */
export const INVALID = -0x7fffffff

/** True for operations that read the state without changing it. */
export const isReadOnly = (kind: number): boolean => kind === GET || kind === CAS_FAILED

/**
 * The state after applying the operation, or INVALID. `a1` is the read result
 * (get), the written value (put) or `expected` (cas); `a2` is the cas's new value.
 */
export const step = (state: number, kind: number, a1: number, a2: number): number => {
  switch (kind) {
    case GET:
      return state === a1 ? state : INVALID
    case PUT:
      return a1
    case DELETE:
      return ABSENT
    case CAS_SWAPPED:
      return state === a1 ? a2 : INVALID
    default:
      return state !== a1 ? state : INVALID
  }
}
