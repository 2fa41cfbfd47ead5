import Foundation
import Logging
import MailslotCore
import MailslotTestSupport
import Testing
@testable import MailslotTransport

#if canImport(Glibc)
import Glibc
#endif

/// Local processes that talk to a mailslot's socket directly, as a hostile or broken one would: they
/// connect by the thousand, hang up at every step of the greeting, never speak, or push garbage and
/// descriptors down the doorbell. The server leaks nothing and goes on serving real writers.
@Suite("Hostile local clients", .serialized)
struct HostileClientTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func descriptorCount(_ pid: pid_t) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// A raw connection to a mailslot's address (a full backlog is retried, bounded).
    static func connect(_ address: [UInt8]) throws -> FD {
        let fd = try Sys.unixSocket(seqpacket: true)
        let deadline = Date().addingTimeInterval(10)
        while true {
            do throws(Errno) {
                try Sys.connectAbstract(fd, address)
                return fd
            } catch where error.code == Errno.again && Date() < deadline {
                usleep(200)
            } catch {
                Sys.close(fd)
                throw error
            }
        }
    }

    @Test("10,000 connect/close cycles, 200 silent clients, garbage and descriptors on the doorbell: nothing leaks, real writers are served")
    func hostileConnectionsLeaveNothingBehind() throws {
        let name = try MailslotName(local: "transport-test\\hostile-clients-\(Sys.pid)")
        let address = LocalProtocol.abstractAddress(forKey: name.key)
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-hostile-\(getpid()).txt").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let pid = try TestSupport.spawn(TestSupport.product("mailslot"), ["listen", name.description, "--timeout", "120000"], stdoutPath: output)
        defer { kill(pid, SIGKILL); _ = TestSupport.wait(pid) }
        #expect(TestSupport.eventually(timeout: 20) { (try? LocalWriter.open(name, writeTimeoutMilliseconds: 0, logger: logger))?.close() != nil })
        var baseline = -1
        #expect(TestSupport.eventually { // the probe's connection let go
            let now = Self.descriptorCount(pid)
            defer { baseline = now }
            return now == baseline
        })

        // 1. Cycles: hang up at once, after reading the greeting (and its ring), or after sending garbage.
        let greetingRoom = 8192
        let cycles = ProcessInfo.processInfo.environment["MAILSLOT_SANITIZER"] == nil ? 10_000 : 3_000
        for i in 0..<cycles {
            let fd = try Self.connect(address)
            switch i % 3 {
            case 0: break
            case 1:
                _ = try? Sys.poll(fd, .readable, timeoutMilliseconds: 1000)
                if let (_, fds) = try? Sys.receiveDescriptors(fd, maxPayload: greetingRoom) { fds.forEach(Sys.close) }
            default:
                _ = try? Sys.send(fd, [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 1 + i % 200))
            }
            Sys.close(fd)
        }

        // 2. Silent clients: connected, never reading the greeting, never writing.
        var silent: [FD] = []
        defer { silent.forEach(Sys.close) }
        for _ in 0..<200 { silent.append(try Self.connect(address)) }
        // 3. Garbage with descriptors attached down the doorbell, from clients that took their ring.
        for i in 0..<100 {
            let fd = try Self.connect(address)
            _ = try? Sys.poll(fd, .readable, timeoutMilliseconds: 1000)
            if let (_, fds) = try? Sys.receiveDescriptors(fd, maxPayload: greetingRoom) { fds.forEach(Sys.close) }
            let passengers = try (0..<8).map { _ in try Sys.eventFD() }
            try? Sys.sendDescriptors(fd, [UInt8](repeating: 0xEE, count: 1 + i), passengers)
            passengers.forEach(Sys.close)
            Sys.close(fd)
        }

        // While the silent clients hold their connections, a real writer is greeted at once and served.
        let started = Date()
        let writer = try LocalWriter.open(name, writeTimeoutMilliseconds: 1000, logger: logger)
        let openTime = Date().timeIntervalSince(started)
        try writer.write(Array("real-1".utf8))
        writer.close()
        #expect(openTime < 2, "a real writer waited \(openTime) s for its greeting behind hostile clients")

        // Everything hostile hung up: the server holds exactly what it held before.
        silent.forEach(Sys.close)
        silent.removeAll()
        #expect(TestSupport.eventually(timeout: 20) { Self.descriptorCount(pid) <= baseline },
                "the server holds \(Self.descriptorCount(pid)) descriptors, \(baseline) before")
        let late = try LocalWriter.open(name, writeTimeoutMilliseconds: 1000, logger: logger)
        try late.write(Array("real-2".utf8))
        late.close()
        #expect(TestSupport.eventually(timeout: 20) { ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "") == "real-1\nreal-2\n" },
                "the server printed \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        print("hostile clients: \(cycles) cycles, 200 silent, 100 with descriptors; a real writer was greeted in \(Int(openTime * 1000)) ms; server descriptors \(baseline) before, \(Self.descriptorCount(pid)) after")
    }
}
