@testable import MailslotCore
import MailslotTestSupport
import Testing

/// The bridge's duplicate window: a key is refused while it was seen within the window (30 s) and among
/// the last `limit` (16,384), and accepted again after; checked against a plain model, also where keys
/// share a home slot.
@Suite("Recent keys")
struct RecentKeysTests {
    /// What ``RecentKeys`` must answer, the plain way: the keys in a set, and in arrival order with
    /// their times (times only grow, so the expired ones are at the front).
    struct Model {
        let window: Duration, limit: Int
        var order: [(key: UInt64, at: ContinuousClock.Instant)] = []
        var front = 0
        var set: Set<UInt64> = []
        var count: Int { order.count - front }
        mutating func insert(_ key: UInt64, now: ContinuousClock.Instant) -> Bool {
            while front < order.count, now - order[front].at > window || count >= limit {
                set.remove(order[front].key)
                front += 1
            }
            guard set.insert(key).inserted else { return false }
            order.append((key, now))
            return true
        }
    }

    /// The answers of a run of inserts (`#expect` cannot call a mutating method itself).
    static func answers(_ keys: inout RecentKeys, _ inserts: [(key: UInt64, at: ContinuousClock.Instant)]) -> [Bool] {
        inserts.map { keys.insert($0.key, now: $0.at) }
    }

    @Test func aKeyIsADuplicateWithinTheWindowAndNewAfterIt() {
        var keys = RecentKeys()
        let start = ContinuousClock.now
        let answers = Self.answers(&keys, [(42, start), (42, start + .seconds(29)), (7, start + .seconds(29))])
        #expect(answers == [true, false, true])
        #expect(keys.contains(42) && keys.contains(7) && !keys.contains(8))
        let later = Self.answers(&keys, [(42, start + .seconds(31)), (7, start + .seconds(31))])
        #expect(later == [true, false], "42 is older than the window, forgotten; 7 was seen 2 s ago")
        #expect(keys.held == 2)
    }

    @Test func theKeyZeroIsAKeyLikeAnyOther() {
        var keys = RecentKeys()
        let start = ContinuousClock.now
        #expect(!keys.contains(0))
        let answers = Self.answers(&keys, [(0, start), (0, start + .seconds(1))])
        #expect(answers == [true, false] && keys.contains(0))
        let later = Self.answers(&keys, [(0, start + .seconds(31))])
        #expect(later == [true])
    }

    @Test func atTheLimitTheOldestKeyGoes() {
        var keys = RecentKeys()
        let now = ContinuousClock.now
        let filled = Self.answers(&keys, (1...UInt64(RecentKeys.limit)).map { ($0, now) })
        #expect(filled.allSatisfy { $0 } && keys.held == RecentKeys.limit && keys.contains(1))
        let one = Self.answers(&keys, [(UInt64(RecentKeys.limit) + 1, now)])
        #expect(one == [true] && !keys.contains(1) && keys.contains(2) && keys.held == RecentKeys.limit)
        let again = Self.answers(&keys, [(1, now)])
        #expect(again == [true] && !keys.contains(2), "forgotten at the limit: new again")
    }

    /// Random keys, with one or two bits of the slot index always clear (longer probe runs), inserted at
    /// random times, against the model: every answer the same, and every held key found. A window of 1 s
    /// and 512 keys, so that both bind within a short run.
    @Test(arguments: [UInt64.max, ~(1 << 9), ~(3 << 8)])
    func answersAsTheModelDoes(keyMask: UInt64) {
        var generator = SplitMix64(seed: keyMask) // seeded, so that a failure can be replayed
        var keys = RecentKeys(window: .seconds(1), limit: 512), model = Model(window: .seconds(1), limit: 512)
        var now = ContinuousClock.now
        for step in 0..<20_000 {
            // First faster than the limit lets the window fill (it binds), then slower (the window binds).
            now += .microseconds(Int.random(in: 0...(step < 10_000 ? 2_000 : 8_000), using: &generator))
            // One key in five from a pool of a hundred that all share the home slot 0, so that duplicates
            // come often and probe runs are long.
            let key = step % 5 == 0 ? UInt64.random(in: 0...100, using: &generator) << 40 & keyMask
                                    : generator.next() & keyMask
            let expected = model.insert(key, now: now)
            guard keys.insert(key, now: now) == expected else {
                Issue.record("step \(step): key \(key) answered \(!expected), the model \(expected)")
                return
            }
            if step % 97 == 0 {
                #expect(keys.held == model.count)
                #expect(model.set.allSatisfy { keys.contains($0) }, "step \(step): a held key is lost")
            }
        }
    }
}
