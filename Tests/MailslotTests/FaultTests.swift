import Foundation
import Mailslot
import MailslotTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Faults a mailslot must survive: a server killed under its writers, and processes out of descriptors
/// or memory. Each gets its documented error, nothing hangs, and what can still be served is served.
@Suite("Faults", .serialized)
struct FaultTests {
    static let prlimit = "/usr/bin/prlimit"

    static func descriptorCount(_ pid: pid_t) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    /// Four writers writing as fast as they can into a server process that is SIGKILLed: every writer
    /// hears 109 ERROR_BROKEN_PIPE within a moment (also one waiting for room in a full quota), the name
    /// is free at once, and writers that open it again reach the new server, which starts empty.
    @Test func aServerKilledUnderItsWritersFailsThemWith109AndANewServerServesThoseThatReopen() throws {
        let name = Support.uniqueName("killed-under-writers")
        // A small quota that the writers keep full: some are waiting for room when the server dies.
        let pid = try Support.spawn(Support.tool, ["listen", name, "--quota", "65536"], stdoutPath: "/dev/null")
        #expect(Support.waitForMailslot(name))
        let writers = 4
        let outcomes = Guarded<[(code: MailslotError.Code?, written: Int, afterKill: Double)]>([])
        let killedAt = Guarded<Date?>(nil)
        var threads: [Thread] = []
        for w in 0..<writers {
            let thread = Thread {
                var written = 0
                var code: MailslotError.Code?
                do throws(MailslotError) {
                    let writer = try MailslotWriter(opening: name, options: .init(writeTimeoutMilliseconds: 10_000))
                    let payload = [UInt8](repeating: UInt8(w), count: 1000)
                    for _ in 0..<10_000_000 {
                        try writer.write(payload)
                        written += 1
                    }
                } catch {
                    code = error.code
                }
                let afterKill = killedAt.withLock { $0 }.map { Date().timeIntervalSince($0) } ?? -1
                outcomes.withLock { $0.append((code, written, afterKill)) }
            }
            thread.start()
            threads.append(thread)
        }
        usleep(300_000)
        killedAt.withLock { $0 = Date() }
        kill(pid, SIGKILL)
        #expect(Support.wait(pid) == 128 + SIGKILL)
        // The name is free at once.
        let server = try MailslotServer(name: name, readTimeout: .milliseconds(5_000))
        defer { server.close() }
        #expect(Support.eventually(timeout: 15) { outcomes.withLock { $0.count } == writers })
        let ended = outcomes.withLock { $0 }
        print("server killed under writers: \(ended.map(\.written).reduce(0, +)) messages written; every writer heard \(Set(ended.map { $0.code?.description ?? "nothing" }).sorted()) within \(Int((ended.map(\.afterKill).max() ?? -1) * 1000)) ms of the kill")
        for outcome in ended {
            #expect(outcome.code == .brokenPipe, "a writer ended with \(String(describing: outcome.code)) after \(outcome.written) messages")
            #expect(outcome.written > 0)
            // Writes without a system call notice a dead server at the next write; one waiting for room
            // within its 100 ms slice. Loose: two shared cores.
            #expect(outcome.afterKill >= 0 && outcome.afterKill < 3, "a writer took \(outcome.afterKill) s to hear that the server died")
        }
        // Writers that open the name again reach the new server, which has none of the old messages.
        for w in 0..<writers {
            let writer = try MailslotWriter(opening: name)
            try writer.write("after-\(w)")
            writer.close()
        }
        var got: Set<String> = []
        for _ in 0..<writers { got.insert(String(decoding: try server.read(), as: UTF8.self)) }
        #expect(got == Set((0..<writers).map { "after-\($0)" }))
        #expect(MailslotError.code { _ = try server.read(timeout: .immediate) } == .semTimeout)
    }

    /// A writer process without a descriptor to spare for its ring hears 4 ERROR_TOO_MANY_OPEN_FILES, not
    /// "no such mailslot" (before: the kernel dropped the ring for want of a descriptor, and the writer
    /// took the short greeting for a server of another version: error 2). The mailslot goes on serving.
    @Test func aWriterOutOfDescriptorsHearsError4AndTheMailslotKeepsServing() throws {
        guard TestSupport.programAvailable(Self.prlimit, for: "the out-of-descriptors test", install: "util-linux") else { return }
        let name = Support.uniqueName("writer-nofile")
        let server = try MailslotServer(name: name, readTimeout: .milliseconds(5_000))
        defer { server.close() }
        // The tool's own start-up needs a few descriptors; somewhere between 3 and 12 the ring does not fit.
        var refused: String?
        for limit in 3...12 {
            let result = try Support.run(Self.prlimit, ["--nofile=\(limit)", Support.tool, "send", name, "limit \(limit)"])
            if result.status == 0 { break }
            if result.stderr.hasPrefix("error ") { refused = result.stderr }
        }
        let message = try #require(refused, "no limit made the writer run out of descriptors")
        #expect(message.hasPrefix("error 4 ERROR_TOO_MANY_OPEN_FILES:"), "\(message)")
        #expect(message.contains("ulimit -n"), "\(message)")
        // The one send that got through, and then an ordinary writer: both read, nothing else.
        let first = String(decoding: try server.read(), as: UTF8.self)
        #expect(first.hasPrefix("limit "))
        try MailslotWriter(opening: name).write("after")
        #expect(try server.read() == Array("after".utf8))
        #expect(MailslotError.code { _ = try server.read(timeout: .immediate) } == .semTimeout)
    }

    /// A server process out of descriptors refuses new writers with an error that says so (1450) or lets
    /// them wait in the backlog until their open times out (121): no crash, no spin, no writer waiting for
    /// ever. The writers it had keep writing, and once descriptors are free again new writers get in.
    @Test func aServerOutOfDescriptorsRefusesNewWritersClearlyAndKeepsServing() throws {
        guard TestSupport.programAvailable(Self.prlimit, for: "the out-of-descriptors test", install: "util-linux") else { return }
        let name = Support.uniqueName("server-nofile")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-nofile-\(getpid()).txt").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let pid = try Support.spawn(Support.tool, ["listen", name, "--timeout", "60000"], stdoutPath: output)
        defer { kill(pid, SIGKILL); _ = Support.wait(pid) }
        #expect(Support.waitForMailslot(name))
        usleep(200_000) // the probe's connection is let go
        // Room for a few more descriptors (the count may include a passing one): a few writers' connections,
        // then no room for the next one's ring.
        let limit = Self.descriptorCount(pid) + 3
        let set = try Support.run(Self.prlimit, ["--pid", "\(pid)", "--nofile=\(limit):\(limit)"])
        try #require(set.status == 0, "prlimit --pid failed: \(set.stderr)")

        var open: [MailslotWriter] = []
        var refusals: [String] = []
        for i in 0..<40 where refusals.count < 2 {
            let started = Date()
            do throws(MailslotError) {
                let writer = try MailslotWriter(opening: name)
                try writer.write("kept-\(i)")
                open.append(writer)
            } catch {
                refusals.append("\(error.code.rawValue): \(error.message)")
                #expect(error.code == .noSystemResources || error.code == .semTimeout, "\(error)")
                if error.code == .noSystemResources { #expect(error.message.contains("file descriptors"), "\(error.message)") }
            }
            #expect(Date().timeIntervalSince(started) < 15, "an open took \(Date().timeIntervalSince(started)) s")
        }
        print("server out of descriptors (limit \(limit)): \(open.count) writers in, refused: \(refusals)")
        #expect(!open.isEmpty, "no writer got in: \(refusals)")
        #expect(!refusals.isEmpty, "the limit of \(limit) descriptors refused nobody")
        // The writers it has keep writing.
        for (i, writer) in open.enumerated() { try writer.write("again-\(i)") }
        // Let them go: their descriptors come back, and a new writer gets in under the same limit.
        open.forEach { $0.close() }
        #expect(Support.eventually(timeout: 15) { (try? MailslotWriter(opening: name).write("late")) != nil })
        #expect(Support.eventually(timeout: 15) { ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("late\n") })
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map(String.init)
        let expected = (0..<open.count).flatMap { ["kept-\($0)", "again-\($0)"] } + ["late"]
        #expect(lines.sorted() == expected.sorted(), "\(lines)")
        let cpu = try Self.cpuTicks(pid)
        usleep(1_000_000)
        #expect(try Self.cpuTicks(pid) - cpu < 20, "the server spun while out of descriptors")
    }

    /// A quota that cannot be reserved is 8 ERROR_NOT_ENOUGH_MEMORY, and the name stays free.
    @Test func aQuotaThatCannotBeReservedIsError8AndLeavesTheNameFree() throws {
        guard TestSupport.programAvailable(Self.prlimit, for: "the out-of-memory test", install: "util-linux") else { return }
        if let sanitizer = ProcessInfo.processInfo.environment["MAILSLOT_SANITIZER"] {
            // A sanitizer's runtime reserves terabytes of address space; an address-space limit stops it first.
            print("*** the out-of-memory check needs an address-space limit, which \(sanitizer) sanitizer builds cannot run under; skipped in this pass (it runs in the plain one) ***")
            return
        }
        let name = Support.uniqueName("no-memory")
        let result = try Support.run(Self.prlimit, ["--as=\(4 << 30)", Support.tool, "listen", name, "--quota", "\(16 << 30)", "--timeout", "10"])
        #expect(result.stderr.hasPrefix("error 8 ERROR_NOT_ENOUGH_MEMORY:"), "\(result.stderr)")
        #expect(result.stderr.contains("smaller quota"), "\(result.stderr)")
        let server = try MailslotServer(name: name, readTimeout: .immediate)
        server.close()
    }

    /// utime + stime of a process, in clock ticks.
    static func cpuTicks(_ pid: pid_t) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        return Int(fields[11])! + Int(fields[12])!
    }
}
