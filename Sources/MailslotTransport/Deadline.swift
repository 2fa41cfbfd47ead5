import MailslotCore

/// The library's one vocabulary for time: a point in CLOCK_MONOTONIC time, or never. Every wait inside the
/// transport is a deadline; the units the kernel wants (epoll's milliseconds with -1 for forever, futex's
/// nanoseconds) are derived here and nowhere else.
package struct Deadline: Sendable {
    let end: UInt64?

    /// A deadline `milliseconds` from now; nil: never.
    package init(milliseconds: UInt32?) {
        guard let milliseconds else { end = nil; return }
        end = Sys.monotonicNanoseconds() + UInt64(milliseconds) * 1_000_000
    }

    /// A deadline a mailslot timeout from now (``MailslotTimeout/forever``: never).
    package init(after timeout: MailslotTimeout) { self.init(milliseconds: timeout.milliseconds) }

    /// The deadline that never comes.
    package static let never = Deadline(milliseconds: nil)

    package var isNever: Bool { end == nil }
    package var passed: Bool { remainingNanoseconds == 0 }

    /// Remaining time in ns; Int64.max for never.
    package var remainingNanoseconds: Int64 {
        guard let end else { return Int64.max }
        let now = Sys.monotonicNanoseconds()
        return now >= end ? 0 : Int64(end - now)
    }

    /// Remaining time in whole ms, rounded up (so a wait never ends early); UInt32.max for never.
    package var remainingMilliseconds: UInt32 {
        let ns = remainingNanoseconds
        if ns == Int64.max { return UInt32.max }
        return UInt32(clamping: (ns + 999_999) / 1_000_000)
    }

    /// The sooner of this deadline and `nanoseconds` from now.
    package func capped(atNanoseconds nanoseconds: Int64) -> Deadline {
        let cap = Sys.monotonicNanoseconds() + UInt64(max(0, nanoseconds))
        guard let end else { return Deadline(end: cap) }
        return Deadline(end: min(end, cap))
    }

    private init(end: UInt64?) { self.end = end }

    /// For epoll_wait and poll: ms rounded up, -1 for never.
    package var epollMilliseconds: Int32 {
        isNever ? -1 : Int32(clamping: remainingMilliseconds)
    }

    /// For futex waits: ns, -1 for never.
    package var futexNanoseconds: Int64 {
        isNever ? -1 : remainingNanoseconds
    }
}
