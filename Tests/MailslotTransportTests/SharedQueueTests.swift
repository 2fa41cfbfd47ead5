import MailslotCore
import MailslotTestSupport
import Testing
@testable import MailslotTransport

@Suite("Shared queue")
struct SharedQueueTests {
    func makeQueue(quota: Int = 64 << 10) throws -> SharedQueue {
        try SharedQueue(quota: quota, maxMessageSize: 0, readTimeout: 0, ownerUID: 0, access: .owner, path: "t")
    }

    func push(_ q: SharedQueue, _ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { q.push($0) } }

    @Test func fifoWithZeroLengthAndSizes() throws {
        let q = try makeQueue()
        #expect(push(q, [1]))
        #expect(push(q, [2, 3]))
        #expect(push(q, []))
        var s = q.snapshot()
        #expect(s.count == 3 && s.nextSize == 1)
        #expect(q.popArray(limit: 10) == (.message(1), [1]))
        s = q.snapshot()
        #expect(s.count == 2 && s.nextSize == 2)
        #expect(q.popArray(limit: 10) == (.message(2), [2, 3]))
        #expect(q.snapshot().nextSize == 0)
        #expect(q.popArray(limit: 10) == (.message(0), []))
        #expect(q.snapshot().nextSize == nil)
        #expect(q.popArray(limit: 10).0 == .empty)
    }

    @Test func tooSmallBufferLeavesMessageQueued() throws {
        let q = try makeQueue()
        #expect(push(q, [9, 9]))
        var one = [UInt8](repeating: 0, count: 1)
        let r = one.withUnsafeMutableBytes { q.pop(into: $0) }
        #expect(r == .tooSmall(2))
        #expect(q.snapshot().count == 1 && q.snapshot().nextSize == 2)
    }

    @Test func fillsToQuotaThenRefusesWithoutLoss() throws {
        let q = try makeQueue(quota: 64 << 10)
        let message = [UInt8](repeating: 7, count: 1000)
        var pushed = 0
        while push(q, message) { pushed += 1 }
        #expect(pushed == (64 << 10) / SharedQueue.recordSize(1000))
        #expect(q.snapshot().count == pushed)
        for _ in 0..<pushed { #expect(q.popArray(limit: 2000).1 == message) }
        #expect(q.snapshot().count == 0)
    }

    @Test func wrapsAroundTheRingKeepingOrderAndContent() throws {
        let q = try makeQueue(quota: 64 << 10)
        var rng = SplitMix64(seed: 42)
        var expected: [[UInt8]] = []
        var sequence: UInt32 = 0
        for _ in 0..<20_000 {
            if rng.next() % 3 != 0 {
                let length = Int(rng.next() % 3000)
                var m = [UInt8](repeating: UInt8(truncatingIfNeeded: sequence), count: max(length, 4))
                withUnsafeBytes(of: sequence) { for i in 0..<4 { m[i] = $0[i] } }
                if push(q, m) { expected.append(m); sequence &+= 1 }
            } else if !expected.isEmpty {
                let (r, bytes) = q.popArray(limit: Int.max)
                #expect(r == .message(expected[0].count))
                #expect(bytes == expected.removeFirst())
            }
        }
        while !expected.isEmpty { #expect(q.popArray(limit: Int.max).1 == expected.removeFirst()) }
        #expect(q.snapshot().count == 0 && q.snapshot().usedBytes == 0)
    }

    @Test func releasingConsumedPagesNeverTouchesLiveMessages() throws {
        // A ring big enough for page release (>= 2 chunks), cycled through several times with a backlog.
        let q = try makeQueue(quota: 5 << 20)
        var rng = SplitMix64(seed: 7)
        var expected: [[UInt8]] = []
        var sequence: UInt32 = 0
        for _ in 0..<6_000 {
            if rng.next() % 2 == 0 || expected.count < 20 {
                var m = [UInt8](repeating: UInt8(truncatingIfNeeded: sequence | 1), count: 4 + Int(rng.next() % 60_000))
                withUnsafeBytes(of: sequence) { for i in 0..<4 { m[i] = $0[i] } }
                if push(q, m) { expected.append(m); sequence &+= 1 }
            } else {
                #expect(q.popArray(limit: Int.max).1 == expected.removeFirst())
            }
        }
        while !expected.isEmpty { #expect(q.popArray(limit: Int.max).1 == expected.removeFirst()) }
    }

    @Test func aMessageAsLargeAsTheQuotaFitsWhenEmpty() throws {
        let q = try makeQueue(quota: 64 << 10)
        #expect(push(q, [1]))
        _ = q.popArray(limit: 10) // moves head away from 0; the next push restarts at 0
        let big = [UInt8](repeating: 3, count: (64 << 10) - 8)
        #expect(push(q, big))
        #expect(!push(q, []))
        #expect(q.popArray(limit: Int.max).1 == big)
    }

    @Test func adoptionSharesTheQueue() throws {
        let q = try makeQueue()
        let dup = try Sys.duplicate(q.fd)
        let other = try SharedQueue(adopting: dup)
        #expect(push(q, [5, 6]))
        #expect(other.popArray(limit: 10).1 == [5, 6])
        #expect(other.path == "t")
        other.readTimeout = 1234
        #expect(q.readTimeout == 1234)
    }

    @Test func adoptionRejectsOtherFiles() throws {
        let fd = try Sys.memfd(name: "not-a-queue")
        try Sys.truncate(fd, size: 8192)
        #expect(throws: Errno.self) { try SharedQueue(adopting: fd) }
    }
}

