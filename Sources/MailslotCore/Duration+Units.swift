extension Duration {
    /// The duration in seconds.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Whole milliseconds (toward zero), saturating at Int64's bounds instead of trapping.
    package var milliseconds: Int64 { whole(1_000) }

    /// Whole nanoseconds (toward zero), saturating at Int64's bounds instead of trapping.
    package var nanoseconds: Int64 { whole(1_000_000_000) }

    private func whole(_ perSecond: Int64) -> Int64 {
        let (seconds, attoseconds) = components
        let scaled = seconds.multipliedReportingOverflow(by: perSecond)
        guard !scaled.overflow else { return seconds < 0 ? .min : .max }
        let sum = scaled.partialValue.addingReportingOverflow(attoseconds / (1_000_000_000_000_000_000 / perSecond))
        return sum.overflow ? (seconds < 0 ? .min : .max) : sum.partialValue
    }
}
