import Foundation
import Mailslot
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Across processes")
struct ProcessTests {
    @Test("8 writer processes x 10,000 numbered messages: all received exactly once, in order per writer")
    func manyWriters() throws {
        let name = Support.uniqueName("load")
        let s = try MailslotServer(name: name, readTimeout: .milliseconds(30_000))
        defer { s.close() }
        let writers = 8, perWriter = 10_000
        var pids: [pid_t] = []
        let dir = FileManager.default.temporaryDirectory.path
        for w in 0..<writers {
            let script = (0..<perWriter).map { "w\(w) \($0)" }.joined(separator: "\n")
            let input = "\(dir)/mailslot-load-\(getpid())-\(w).txt"
            try script.write(toFile: input, atomically: true, encoding: .utf8)
            pids.append(try Support.spawn("/bin/sh", ["-c", "exec '\(Support.tool)' send '\(name)' < '\(input)'"],
                                          stdoutPath: "/dev/null"))
        }
        var next = [Int](repeating: 0, count: writers)
        var total = 0
        var problems: [String] = []
        while total < writers * perWriter {
            let m: [UInt8]
            do throws(MailslotError) { m = try s.read() } catch {
                problems.append("read failed after \(total) messages: \(error)")
                break
            }
            let parts = String(decoding: m, as: UTF8.self).split(separator: " ")
            guard parts.count == 2, parts[0].hasPrefix("w"), let w = Int(parts[0].dropFirst()), w < writers, let n = Int(parts[1]) else {
                problems.append("garbled message \(m)")
                break
            }
            if n != next[w] { problems.append("writer \(w): got \(n), expected \(next[w])") }
            next[w] = n + 1
            total += 1
        }
        for pid in pids { #expect(Support.wait(pid) == 0) }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        #expect(total == writers * perWriter)
        #expect(next == [Int](repeating: perWriter, count: writers))
        #expect(MailslotError.code { _ = try s.read(timeout: .immediate) } == .semTimeout)
        for w in 0..<writers { try? FileManager.default.removeItem(atPath: "\(dir)/mailslot-load-\(getpid())-\(w).txt") }
    }

    @Test func aServerKilledWithSIGKILLFreesTheNameAtOnce() throws {
        let name = Support.uniqueName("kill")
        let pid = try Support.spawn(Support.tool, ["listen", name], stdoutPath: "/dev/null")
        #expect(Support.waitForMailslot(name))
        let c = try MailslotWriter(opening: name)
        try c.write("unread")
        kill(pid, SIGKILL)
        #expect(Support.wait(pid) == 128 + SIGKILL)
        #expect(MailslotError.code { try c.write("late") } == .brokenPipe)
        let s = try MailslotServer(name: name, readTimeout: .immediate) // no stale name
        defer { s.close() }
        #expect(try s.info().messageCount == 0) // the unread message went with the old mailslot
    }

    @Test func anInheritedHandleKeepsTheMailslotAliveInTheChild() throws {
        let name = Support.uniqueName("inherit")
        let s = try MailslotServer(name: name, readTimeout: .forever)
        let c = try MailslotWriter(opening: name)
        try c.write("first")
        #expect(try s.info().messageCount == 1)
        let token = try s.inheritableHandle()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-inherit-\(getpid()).txt").path
        let pid = try Support.spawn(Support.tool, ["listen", "--inherit", token, "--count", "3", name], stdoutPath: out)
        try s.stopInheritance()
        // The parent closes its handle; the mailslot, with its queued message, lives on in the child.
        s.close()
        #expect(MailslotError.code { _ = try MailslotServer(name: name) } == .alreadyExists)
        let c2 = try MailslotWriter(opening: name)
        for m in ["second", "third"] { try c2.write(m) }
        #expect(Support.wait(pid) == 0)
        let printed = try String(contentsOfFile: out, encoding: .utf8)
        #expect(printed == "first\nsecond\nthird\n")
        try? FileManager.default.removeItem(atPath: out)
        // The last holder is gone: the name is free.
        #expect(Support.eventually { (try? MailslotServer(name: name))?.close() != nil })
    }

    @Test(.enabled(if: Support.rootAvailable, "needs root to run a writer as another user"))
    func theAccessRuleIsEnforcedForOtherUsers() throws {
        let tool = Support.tool
        let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups", tool]
        let group = ["--reuid=65534", "--regid=65534", "--groups=4242", tool]

        let owner = Support.uniqueName("owner")
        let s1 = try MailslotServer(name: owner, readTimeout: .immediate)
        defer { s1.close() }
        let denied = try Support.run("/usr/bin/setpriv", nobody + ["send", owner, "hello"])
        #expect(denied.status != 0)
        #expect(denied.stderr.hasPrefix("error 5 ERROR_ACCESS_DENIED:"), "\(denied.stderr)")
        #expect(try s1.info().messageCount == 0)
        #expect(s1.counters.writersRefused == 1)

        let grouped = Support.uniqueName("group")
        let s2 = try MailslotServer(name: grouped, readTimeout: .immediate, options: .init(access: .group(4242)))
        defer { s2.close() }
        let inGroup = try Support.run("/usr/bin/setpriv", group + ["send", grouped, "from the group"])
        #expect(inGroup.status == 0, "\(inGroup.stderr)")
        #expect(try s2.read() == Array("from the group".utf8))
        let notInGroup = try Support.run("/usr/bin/setpriv", nobody + ["send", grouped, "x"])
        #expect(notInGroup.stderr.hasPrefix("error 5 "), "\(notInGroup.stderr)")

        let open = Support.uniqueName("everyone")
        let s3 = try MailslotServer(name: open, readTimeout: .immediate, options: .init(access: .everyone))
        defer { s3.close() }
        let allowed = try Support.run("/usr/bin/setpriv", nobody + ["send", open, "from nobody"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(try s3.read() == Array("from nobody".utf8))

        // Another user cannot take over a live name either.
        let squat = try Support.run("/usr/bin/setpriv", nobody + ["listen", owner, "--timeout", "10"])
        #expect(squat.stderr.hasPrefix("error 183 ERROR_ALREADY_EXISTS:"), "\(squat.stderr)")
    }
}
