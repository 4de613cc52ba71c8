/**
 * Logical time. Protocol cores count `Tick` inputs, never read a clock; the
 * shells turn a wall-clock schedule into those ticks here. Under `TestClock`
 * the ticks follow the test's clock adjustments, so shell tests are
 * deterministic.
 *
 * Tick interval: `DEFAULT_TICK_INTERVAL` (10 ms) unless configured, e.g. from
 * the environment with `tickIntervalConfig` (`SYNOD_TICK_INTERVAL=25 millis`).
 * Protocol timeouts are expressed in ticks, so the interval scales all of them.
 * Ticks are spaced (`Schedule.spaced`): a slow consumer delays the next tick
 * instead of receiving a burst of catch-up ticks, so an overloaded replica does
 * not time out its leader because it was itself slow.
 */
import { Config, Duration, Effect, type Fiber, Schedule, type Scope, Stream } from "effect"

export const DEFAULT_TICK_INTERVAL: Duration.Duration = Duration.millis(10)

/** `SYNOD_TICK_INTERVAL` (an Effect duration string such as "10 millis"), default 10 ms. */
export const tickIntervalConfig: Config.Config<Duration.Duration> = Config.duration("SYNOD_TICK_INTERVAL").pipe(
  Config.withDefault(DEFAULT_TICK_INTERVAL)
)

/** The `Tick` input of every protocol core (`Input<M>`'s `Tick` case). */
export interface Tick {
  readonly _tag: "Tick"
}

export const Tick: Tick = { _tag: "Tick" }

export interface Ticker {
  readonly interval: Duration.Duration
  /** An endless stream of ticks, one per `interval`, the first after one interval. */
  readonly ticks: Stream.Stream<Tick>
}

export const make = (interval: Duration.DurationInput = DEFAULT_TICK_INTERVAL): Ticker => {
  const d = Duration.decode(interval)
  if (!Duration.isFinite(d) || Duration.toMillis(d) <= 0) {
    throw new RangeError(`Ticker: interval must be finite and positive, got ${Duration.format(d)}`)
  }
  return {
    interval: d,
    ticks: Stream.fromSchedule(Schedule.spaced(d)).pipe(Stream.as(Tick))
  }
}

/**
 * Run `onTick` for every tick in a fiber of the current scope. The fiber ends
 * when `onTick` fails (e.g. the actor it feeds has stopped) or the scope closes.
 */
export const drive = <E, R>(
  ticker: Ticker,
  onTick: Effect.Effect<void, E, R>
): Effect.Effect<Fiber.RuntimeFiber<void, E>, never, Scope.Scope | R> =>
  Effect.forkScoped(Stream.runForEach(ticker.ticks, () => onTick))
