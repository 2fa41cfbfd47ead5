import Foundation
import Logging
import MailslotCore
import Testing
@testable import MailslotTransport

@Suite("Local engine and writer")
struct EngineTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func uniqueName(_ tag: String) throws -> MailslotName {
        try MailslotName(local: "transport-test\\\(tag)-\(Sys.pid)-\(Sys.monotonicNanoseconds() % 1_000_000)")
    }

    @Test func writerReachesServerAndGreetingCarriesLimits() throws {
        let name = try uniqueName("basic")
        let engine = try LocalServerEngine.create(name: name, maxMessageSize: 100, readTimeout: .immediate, access: .owner,
                                                  quota: 1 << 20, logger: logger)
        defer { engine.close() }
        let writer = try LocalWriter.open(name, writeTimeoutMilliseconds: 1000, logger: logger)
        #expect(writer.greeting.maxMessageSize == 100)
        #expect(writer.greeting.serverPID == Sys.pid)
        try writer.write([1, 2, 3])
        engine.drainNow()
        #expect(engine.queue.popArray(limit: 10).1 == [1, 2, 3])
        #expect(engine.counters.writersAccepted == 1)
    }

    /// An open that finds no server leaves its socket for the next open, which uses it: one socket however
    /// many opens are refused, and it connects once the server exists.
    @Test func aRefusedOpenLeavesItsSocketForTheNext() throws {
        let name = try uniqueName("spare")
        var spare: FD?
        var sockets: Set<FD> = []
        for _ in 0..<20 {
            #expect(try LocalWriter.PendingOpen.begin(name, spare: &spare) == nil)
            if let spare { sockets.insert(spare) }
        }
        #expect(sockets.count == 1 && spare != nil, "\(sockets)")
        let engine = try LocalServerEngine.create(name: name, maxMessageSize: 0, readTimeout: .immediate, access: .owner,
                                                  quota: 65_536, logger: logger)
        defer { engine.close() }
        let open = try #require(try LocalWriter.PendingOpen.begin(name, spare: &spare))
        #expect(spare == nil && sockets.contains(open.fd))
        var writer: LocalWriter?
        for _ in 0..<1_000 where writer == nil {
            writer = try open.finish(writeTimeoutMilliseconds: 0, logger: logger)
            if writer == nil { usleep(1_000) }
        }
        try #require(writer).write([7], timeoutMilliseconds: 0)
        engine.drainNow()
        #expect(engine.queue.popArray(limit: 10).1 == [7])
        writer?.close()
    }

    /// A writer can tell, without a system call, whether its next message fits in its ring (the gateway
    /// looks before it tries a waiting backlog again): not while the server's quota is full and the ring
    /// with it; again once the server has read and taken the ring in.
    @Test func aWriterSeesWhetherItsRingHasRoom() throws {
        let name = try uniqueName("room")
        let engine = try LocalServerEngine.create(name: name, maxMessageSize: 0, readTimeout: .immediate, access: .owner,
                                                  quota: 65_536, logger: logger)
        defer { engine.close() }
        let writer = try LocalWriter.open(name, writeTimeoutMilliseconds: 0, logger: logger)
        let message = [UInt8](repeating: 7, count: 400)
        #expect(writer.hasRoom(for: message.count))
        // Written until the ring stays full: while the server's thread still takes the ring in (slow under
        // ThreadSanitizer), a full ring gets room again without any read.
        var written = 0, refused = 0
        while written < 10_000, refused < 3 {
            if (try? writer.write(message, timeoutMilliseconds: 0)) != nil {
                written += 1
                refused = 0
            } else {
                refused += 1
                usleep(20_000)
            }
        }
        #expect(written > 100 && written < 10_000, "the ring (64 KiB) fills behind the full quota: \(written)")
        #expect(!writer.hasRoom(for: message.count))
        #expect(!writer.hasRoom(for: 100_000), "a message written in parts: its first part does not fit either")
        var read = 0
        for _ in 0..<1_000 where !writer.hasRoom(for: message.count) {
            _ = engine.drainNow()
            while case (.message, _) = engine.queue.popArray(limit: 1 << 16) { read += 1 }
        }
        #expect(read > 0 && writer.hasRoom(for: message.count))
        writer.close()
        #expect(writer.hasRoom(for: message.count), "a closed writer: only a write can say why not")
    }

    /// A writer that talks to its ring directly, as a hostile process can: raw records, any tail.
    final class RawRing {
        let fd: FD
        let base: UnsafeMutableRawPointer
        init(_ name: MailslotName) throws {
            let (fd, greeting, fds) = try LocalWriter.connectForWriting(name, LocalProtocol.abstractAddress(forKey: name.key), timeoutMilliseconds: 1000)
            #expect(greeting.status == .ok && fds.count == 2)
            self.fd = fd
            base = try Sys.mapShared(fds[0], size: RingLayout.mappedSize)
            for extra in fds { Sys.close(extra) }
        }
        deinit {
            Sys.unmap(base, size: RingLayout.mappedSize)
            Sys.close(fd)
        }
        /// Writes a record header and payload at ring offset `at`.
        func record(at: Int, length: UInt32, kind: UInt8, stamp: UInt64, payload: [UInt8] = []) {
            let data = base + RingLayout.headerSize
            data.storeBytes(of: length, toByteOffset: at, as: UInt32.self)
            data.storeBytes(of: UInt32(kind), toByteOffset: at + 4, as: UInt32.self)
            data.storeBytes(of: stamp, toByteOffset: at + 8, as: UInt64.self)
            payload.withUnsafeBytes { (data + at + 16).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        func publish(_ tail: UInt64) { base.storeBytes(of: tail, toByteOffset: 128, as: UInt64.self) }
    }

    @Test func hostileRingsDropTheWriterAndAreCounted() throws {
        let name = try uniqueName("hostile")
        let engine = try LocalServerEngine.create(name: name, maxMessageSize: 10, readTimeout: .immediate, access: .owner,
                                                  quota: 1 << 20, logger: logger)
        defer { engine.close() }
        let w = RingKind.whole.rawValue, p = RingKind.part.rawValue, f = RingKind.first.rawValue
        // Each case writes its records and publishes its tail; each breaks one rule.
        let cases: [(String, (RawRing) -> Void)] = [
            ("unknown kind", { $0.record(at: 0, length: 1, kind: 0x99, stamp: 1, payload: [1]); $0.publish(32) }),
            ("over the maximum message size", { $0.record(at: 0, length: 11, kind: w, stamp: 1, payload: Array(repeating: 0, count: 11)); $0.publish(32) }),
            ("a part outside a message", { $0.record(at: 0, length: 1, kind: p, stamp: 1, payload: [1]); $0.publish(32) }),
            ("a tail beyond the ring", { $0.record(at: 0, length: 1, kind: w, stamp: 1, payload: [1]); $0.publish(UInt64(RingLayout.capacity) + 16) }),
            ("an unaligned tail", { $0.record(at: 0, length: 1, kind: w, stamp: 1, payload: [1]); $0.publish(24) }),
            ("a record longer than its ring record", { $0.record(at: 0, length: UInt32(RingLayout.maxPayload + 1), kind: w, stamp: 1); $0.publish(64) }),
            ("a record running past the tail", { $0.record(at: 0, length: 100, kind: w, stamp: 1); $0.publish(32) }),
            ("a first part announcing too much", { $0.record(at: 0, length: 1, kind: f, stamp: UInt64.max, payload: [1]); $0.publish(32) }),
            ("a huge length", { $0.record(at: 0, length: UInt32.max, kind: w, stamp: 1); $0.publish(32) }),
        ]
        for (label, write) in cases {
            let before = engine.counters.protocolViolations
            let raw = try RawRing(name)
            write(raw)
            engine.drainNow()
            #expect(engine.counters.protocolViolations == before + 1, "\(label)")
            // The server hung up on it.
            var buffer = [UInt8](repeating: 0, count: 16)
            _ = try? Sys.poll(raw.fd, .readable, timeoutMilliseconds: 1000)
            #expect((try? Sys.receive(raw.fd, into: &buffer)) == 0, "\(label)")
        }
        #expect(engine.queue.snapshot().count == 0)
        #expect(engine.connectionCount == 0)
        // A well-behaved writer still works.
        let writer = try LocalWriter.open(name, writeTimeoutMilliseconds: 1000, logger: logger)
        try writer.write([7])
        engine.drainNow()
        #expect(engine.queue.popArray(limit: 10).1 == [7])
    }

    @Test func aStampInTheFutureIsClampedAndDoesNotHoldOthers() throws {
        let name = try uniqueName("future")
        let engine = try LocalServerEngine.create(name: name, maxMessageSize: 0, readTimeout: .immediate, access: .owner,
                                                  quota: 1 << 20, logger: logger)
        defer { engine.close() }
        let raw = try RawRing(name)
        let honest = try LocalWriter.open(name, writeTimeoutMilliseconds: 1000, logger: logger)
        raw.record(at: 0, length: 1, kind: RingKind.whole.rawValue, stamp: UInt64.max - 5, payload: [9])
        raw.publish(32)
        try honest.write([1])
        engine.drainNow()
        var got: [[UInt8]] = []
        while case (.message, let bytes) = engine.queue.popArray(limit: 10) { got.append(bytes) }
        #expect(Set(got) == [[9], [1]])
        #expect(engine.counters.protocolViolations == 0)
    }

    /// A reader that takes the watching over from the I/O thread while that thread is between its epoll
    /// wait and the rest of its turn (preempted there, as on a busy machine) is still woken by the next
    /// message. The turn used to disarm the rings the reader had just armed, so the writer rang no
    /// doorbell and the reader slept to its deadline with the message waiting.
    @Test func aReaderTakingOverInTheMiddleOfAnIOTurnIsWokenByTheNextMessage() throws {
        let name = try uniqueName("handover")
        let engine = try LocalServerEngine.create(name: name, maxMessageSize: 100, readTimeout: .immediate, access: .owner,
                                                  quota: 1 << 20, logger: logger)
        defer { engine.close() }
        engine.ioTurnPauseForTesting.store(3_000, ordering: .relaxed)
        let writer = try LocalWriter.open(name, writeTimeoutMilliseconds: 1000, logger: logger)
        var slow: [Int] = []
        for round in 0..<10 {
            usleep(30_000) // no reader: the I/O thread watches the writers
            let late = Thread {
                usleep(15_000)
                try? writer.write([UInt8(round)])
            }
            late.start()
            let started = Sys.monotonicNanoseconds()
            let end = try engine.receive(timeout: .milliseconds(1_000), cancellation: nil) { () throws(MailslotError) -> [UInt8]? in
                guard case (.message, let bytes) = engine.queue.popArray(limit: 100) else { return nil }
                return bytes
            }
            let milliseconds = Int((Sys.monotonicNanoseconds() - started) / 1_000_000)
            guard case .value(let bytes) = end, bytes == [UInt8(round)] else { Issue.record("round \(round): \(end)"); break }
            if milliseconds > 500 { slow.append(milliseconds) }
            while !late.isFinished { usleep(1_000) }
        }
        #expect(slow.isEmpty, "reads that slept to their deadline with a message waiting (ms): \(slow)")
    }

    @Test func nonMailslotSocketIsNotFound() throws {
        // A socket bound to a mailslot-like address that never greets properly.
        let name = try uniqueName("impostor")
        let fd = try Sys.unixSocket(seqpacket: true)
        defer { Sys.close(fd) }
        try Sys.bindAbstract(fd, LocalProtocol.abstractAddress(forKey: name.key))
        try Sys.listen(fd, backlog: 4)
        do {
            _ = try LocalWriter.open(name, writeTimeoutMilliseconds: 200, logger: logger)
            Issue.record("opened an impostor")
        } catch {
            #expect(error.code == .semTimeout)
        }
    }
}
