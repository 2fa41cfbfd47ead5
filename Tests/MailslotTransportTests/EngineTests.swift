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

    @Test func hostileRecordsDropTheWriterAndAreCounted() throws {
        let name = try uniqueName("hostile")
        let engine = try LocalServerEngine.create(name: name, maxMessageSize: 10, readTimeout: .immediate, access: .owner,
                                                  quota: 1 << 20, logger: logger)
        defer { engine.close() }
        let address = LocalProtocol.abstractAddress(forKey: name.key)
        // 1: unknown record kind; 2: a message over the maximum sent without the writer-side check;
        // 3: a whole message in the middle of a multi-part one.
        // Records are the bytes followed by the frame kind.
        let bad: [[UInt8]] = [[1, 0x99], [UInt8](repeating: 0, count: 11) + [LocalFrame.whole.rawValue],
                              [1, LocalFrame.part.rawValue], ]
        for (i, record) in bad.enumerated() {
            let (fd, _) = try LocalWriter.connect(name, address, timeoutMilliseconds: 1000)
            if i == 2 {
                #expect(try Sys.send(fd, record))
                #expect(try Sys.send(fd, [2, LocalFrame.whole.rawValue]))
            } else {
                #expect(try Sys.send(fd, record))
            }
            // Wait until the server has dropped the connection.
            var buffer = [UInt8](repeating: 0, count: 16)
            for _ in 0..<500 {
                engine.drainNow()
                if case .some(0) = try? Sys.receive(fd, into: &buffer) { break }
                _ = try? Sys.poll(fd, .readable, timeoutMilliseconds: 10)
            }
            Sys.close(fd)
        }
        engine.drainNow()
        #expect(engine.counters.protocolViolations == 3)
        #expect(engine.queue.snapshot().count == 0)
        // A well-behaved writer still works.
        let writer = try LocalWriter.open(name, writeTimeoutMilliseconds: 1000, logger: logger)
        try writer.write([7])
        engine.drainNow()
        #expect(engine.queue.popArray(limit: 10).1 == [7])
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
