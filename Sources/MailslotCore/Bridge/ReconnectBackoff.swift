/// How long a bridge waits before it tries NATS again: exponential back-off with jitter, so that a server
/// that stays down is not hammered, and bridges that lost it at the same moment do not all come back in
/// the same millisecond. Pure: the caller supplies the random number.
///
/// Attempt n of an outage (n = 1 for the first) waits `first × 2^(n−1)`, at most `limit`, plus a random
/// share of up to `jitter` of that. With ``bridge`` (250 ms, 8 s, 20 %), the waits are 0.25, 0.5, 1, 2, 4,
/// then 8 s for each further attempt, each up to a fifth longer. A short outage (a server restarted) is
/// over within about a second; a long one costs one attempt every 8 to 9.6 s.
package struct ReconnectBackoff: Sendable, Hashable {
    /// The wait before the first attempt.
    package var firstMilliseconds: Int64
    /// The longest wait, however many attempts have failed.
    package var limitMilliseconds: Int64
    /// The largest random addition, as a share of the wait (0.2: up to 20 % more).
    package var jitter: Double

    package init(firstMilliseconds: Int64, limitMilliseconds: Int64, jitter: Double) {
        self.firstMilliseconds = max(1, firstMilliseconds)
        self.limitMilliseconds = max(self.firstMilliseconds, limitMilliseconds)
        self.jitter = jitter.isFinite ? min(max(jitter, 0), 1) : 0
    }

    /// The bridge's schedule.
    package static let bridge = ReconnectBackoff(firstMilliseconds: 250, limitMilliseconds: 8_000, jitter: 0.2)

    /// The wait before attempt `attempt` (from 1; anything less counts as 1), with `random` in 0..<1
    /// choosing the jitter (values outside are clamped). Never overflows, whatever the attempt.
    package func delayMilliseconds(attempt: Int, random: Double) -> Int64 {
        var delay = firstMilliseconds
        var doublings = max(attempt, 1) - 1
        while doublings > 0 && delay < limitMilliseconds {
            delay = delay > limitMilliseconds / 2 ? limitMilliseconds : delay * 2 // never past the limit, never overflowing
            doublings -= 1
        }
        delay = min(delay, limitMilliseconds)
        let share = random.isFinite ? min(max(random, 0), 1) : 0
        let extra = (Double(delay) * jitter * share).rounded(.down)
        guard extra < Double(Int64.max - delay) else { return Int64.max }
        return delay + Int64(extra)
    }
}
