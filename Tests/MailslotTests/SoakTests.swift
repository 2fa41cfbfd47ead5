import Foundation
@testable import Mailslot
import MailslotTestSupport
import MailslotTransport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Writers that come and go, messages of random sizes (some in parts), random pauses and read timeouts,
/// a quota small enough to fill: every message whose write returned is read exactly once, in order per
/// writer, and the server's descriptors are back where they started. MAILSLOT_SOAK_SECONDS (default 20)
/// sets how long the writers keep coming.
@Suite("Soak")
struct SoakTests {
    /// A small deterministic generator, so that a failing run can be repeated from its seed.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state ^ (state >> 33)
        }
    }

    /// The inode of what a descriptor refers to (a socket, a memfd).
    static func inode(_ fd: Int32) -> UInt64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    /// The memory a memfd holds (its allocated blocks): the queue's pages, unaffected by what other suites do.
    static func allocatedBytes(_ fd: Int32) -> Int {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int(st.st_blocks) * 512 : -1
    }

    /// The inodes of everything this process has open. Other suites open and close descriptors meanwhile,
    /// so the check is whether this server's own objects are among them, not a count.
    static func openInodes() -> Set<UInt64> {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return Set(fds.compactMap { entry -> UInt64? in
            var st = stat()
            return stat("/proc/self/fd/" + entry, &st) == 0 ? UInt64(st.st_ino) : nil
        })
    }

    @Test("16 writer slots, writers coming and going, random sizes, pauses and read timeouts: exactly once, in order")
    func soak() throws {
        let seconds = Double(ProcessInfo.processInfo.environment["MAILSLOT_SOAK_SECONDS"] ?? "") ?? 20
        let seed = UInt64(ProcessInfo.processInfo.environment["MAILSLOT_SOAK_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970 * 1000)
        print("soak: \(seconds) s, seed \(seed) (MAILSLOT_SOAK_SEED repeats a run)")
        let serverObjects = try run(seconds: seconds, seed: seed)
        // Closed and released, the server holds nothing any more: none of its sockets or memfds is open.
        #expect(Support.eventually { Self.openInodes().isDisjoint(with: serverObjects) },
                "still open: \(Self.openInodes().intersection(serverObjects))")
    }

    /// Runs the soak; returns the inodes of the server's own descriptors (its name's socket and its queue).
    func run(seconds: Double, seed: UInt64) throws -> Set<UInt64> {
        let name = Support.uniqueName("soak")
        let server = try MailslotServer(name: name, options: .init(quota: 1 << 20))
        defer { server.close() }
        let queueMemoryAtStart = Self.allocatedBytes(server.engine.queue.fd)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-soak-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        let slots = 16
        let end = Date().addingTimeInterval(seconds)
        // Per slot: how many messages writes have returned for (a session that exits 0 sent all its lines).
        let sent = Guarded([Int](repeating: 0, count: slots))
        let failures = Guarded([String]())
        let running = Atomic<Int>(slots)
        let threads = (0..<slots).map { slot in
            Thread {
                var random = Generator(state: seed &+ UInt64(slot) &* 0x9E37_79B9_7F4A_7C15)
                var next = 0
                var session = 0
                while Date() < end {
                    // One writer process: opens, writes 20-300 numbered messages, exits.
                    let count = Int.random(in: 20...300, using: &random)
                    var text = ""
                    for i in next..<(next + count) {
                        let size = Int.random(in: 0..<100, using: &random) < 2 ? Int.random(in: 33_000...90_000, using: &random)
                            : Int.random(in: 0...3_000, using: &random)
                        text += "w\(slot) \(i) " + String(repeating: "x", count: size) + "\n"
                    }
                    let file = "\(folder)/slot\(slot)-\(session)"
                    do {
                        try text.write(toFile: file, atomically: false, encoding: .utf8)
                        let pid = try Support.spawn("/bin/sh", ["-c", "exec '\(Support.tool)' send '\(name)' --write-timeout 30000 < '\(file)'"],
                                                    stdoutPath: "/dev/null")
                        let status = Support.wait(pid, timeout: 120)
                        try? FileManager.default.removeItem(atPath: file)
                        if status != 0 {
                            failures.withLock { $0.append("slot \(slot) session \(session): exit \(status)") }
                            break
                        }
                    } catch {
                        failures.withLock { $0.append("slot \(slot): \(error)") }
                        break
                    }
                    next += count
                    sent.withLock { $0[slot] = next }
                    session += 1
                    usleep(useconds_t(Int.random(in: 0...50_000, using: &random)))
                }
                running.wrappingSubtract(1, ordering: .releasing)
            }
        }
        for thread in threads { thread.start() }

        var expected = [Int](repeating: 0, count: slots)
        var problems: [String] = []
        var random = Generator(state: seed)
        var received = 0
        let giveUp = end.addingTimeInterval(180)
        while Date() < giveUp {
            let done = running.load(ordering: .acquiring) == 0
            let timeout = MailslotTimeout.milliseconds(UInt32.random(in: 0...50, using: &random))
            let message: [UInt8]
            do throws(MailslotError) {
                message = try server.read(timeout: timeout)
            } catch {
                if error.code != .semTimeout { problems.append("read: \(error)"); break }
                if done, expected == sent.withLock({ $0 }) { break }
                continue
            }
            received += 1
            let head = message.prefix(24).split(separator: UInt8(ascii: " "), maxSplits: 2)
            guard head.count >= 2, head[0].first == UInt8(ascii: "w"),
                  let slot = Int(String(decoding: head[0].dropFirst(), as: UTF8.self)), slot < slots,
                  let number = Int(String(decoding: head[1], as: UTF8.self)) else {
                problems.append("a garbled message of \(message.count) bytes")
                break
            }
            if number != expected[slot] { problems.append("slot \(slot): got \(number), expected \(expected[slot])") }
            expected[slot] = number + 1
            if problems.count > 5 { break }
        }
        let total = sent.withLock { $0 }
        print("soak: \(received) messages from \(total.reduce(0, +)) written by \(slots) slots")
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.prefix(3))")
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        #expect(expected == total, "per slot received \(expected), written \(total)")
        #expect(try server.info().messageCount == 0)
        // The queue gave back the pages its messages used, but for the chunk it keeps for the next ones (and
        // the pages either end of it may share with the header or with what it gave back).
        let queueMemoryAtEnd = Self.allocatedBytes(server.engine.queue.fd)
        let kept = SharedQueue.releaseChunk(capacity: server.engine.queue.capacity) + 2 * 4096
        print("soak: the queue's memfd held \(queueMemoryAtStart) bytes at the start and \(queueMemoryAtEnd) at the end (\(kept) may stay)")
        #expect(queueMemoryAtEnd <= queueMemoryAtStart + kept, "the emptied queue still holds \(queueMemoryAtEnd) bytes (\(queueMemoryAtStart) at the start)")
        // Every writer's connection and ring is let go once its writer has gone.
        #expect(Support.eventually { server.engine.connectionCount == 0 }, "\(server.engine.connectionCount) writers still held")
        // The name's socket and the queue's memfd have inodes of their own (eventfds and epoll share one
        // anonymous inode with every other in the process, so they cannot be told apart this way).
        return Set([server.engine.listenFD, server.engine.queue.fd].map(Self.inode)).subtracting([0])
    }
}
