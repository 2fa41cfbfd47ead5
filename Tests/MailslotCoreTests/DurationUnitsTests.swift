import MailslotCore
import Testing

/// The one conversion of Durations to whole units that the gateway, the tool and the directory use.
@Suite("Duration units")
struct DurationUnitsTests {
    @Test func wholeUnitsGoTowardZeroAndSaturate() {
        #expect(Duration.microseconds(1_999).milliseconds == 1)
        #expect(Duration.microseconds(-1_999).milliseconds == -1)
        #expect(Duration.seconds(3).milliseconds == 3_000)
        #expect(Duration.milliseconds(1_500).nanoseconds == 1_500_000_000)
        #expect(Duration.seconds(Int64.max).milliseconds == Int64.max, "saturates instead of trapping")
        #expect(Duration.seconds(Int64.min).nanoseconds == Int64.min)
        #expect(Duration.milliseconds(250).seconds == 0.25)
    }
}
