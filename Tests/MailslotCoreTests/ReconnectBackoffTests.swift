import Testing
@testable import MailslotCore

@Suite("Bridge reconnect back-off")
struct ReconnectBackoffTests {
    @Test func theBridgeScheduleDoublesFromAQuarterSecondToEightSeconds() {
        let waits = (1...8).map { ReconnectBackoff.bridge.delayMilliseconds(attempt: $0, random: 0) }
        #expect(waits == [250, 500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000])
    }

    @Test func jitterAddsUpToItsShareAndNeverSubtracts() {
        for attempt in [1, 3, 6, 40] {
            let plain = ReconnectBackoff.bridge.delayMilliseconds(attempt: attempt, random: 0)
            let most = ReconnectBackoff.bridge.delayMilliseconds(attempt: attempt, random: 0.999_999)
            #expect(most > plain && most <= plain + plain / 5, "attempt \(attempt): \(plain) … \(most)")
            for random in [-1, 2, .nan, .infinity] as [Double] { // out of range: clamped, never a crash
                let wait = ReconnectBackoff.bridge.delayMilliseconds(attempt: attempt, random: random)
                #expect(wait >= plain && wait <= plain + plain / 5)
            }
        }
    }

    @Test func anyAttemptNumberAndAnyLimitStayInRange() {
        #expect(ReconnectBackoff.bridge.delayMilliseconds(attempt: 0, random: 0) == 250)
        #expect(ReconnectBackoff.bridge.delayMilliseconds(attempt: Int.min, random: 0) == 250)
        #expect(ReconnectBackoff.bridge.delayMilliseconds(attempt: Int.max, random: 0) == 8_000)
        let huge = ReconnectBackoff(firstMilliseconds: Int64.max / 3, limitMilliseconds: Int64.max, jitter: 0)
        #expect(huge.delayMilliseconds(attempt: 5, random: 0) == Int64.max)
        let hugeWithJitter = ReconnectBackoff(firstMilliseconds: Int64.max / 3, limitMilliseconds: Int64.max, jitter: 1)
        #expect(hugeWithJitter.delayMilliseconds(attempt: 2, random: 1) == Int64.max)
        #expect(hugeWithJitter.delayMilliseconds(attempt: 9, random: 0.5) == Int64.max)
        let odd = ReconnectBackoff(firstMilliseconds: -5, limitMilliseconds: -9, jitter: 7)
        #expect(odd.firstMilliseconds == 1 && odd.limitMilliseconds == 1 && odd.jitter == 1)
    }
}
