import ArgumentParser
import Foundation
import Mailslot
import MailslotTransport

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show mailslots working end to end, as a readable transcript.",
        discussion: "Creates a mailslot, has writer processes send to it, reads the messages back in order, and shows info, a zero-length message, a read timeout and the common errors."
    )

    func run() throws {
        let pid = ProcessInfo.processInfo.processIdentifier
        let path = "\\\\.\\mailslot\\demo\\events-\(pid)"
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path

        say("Mailslot demo (process \(pid))")
        step(1, "The server creates \(path): messages up to 4096 bytes, reads wait 1000 ms.")
        let server = runOrFail { () throws(MailslotError) in
            try MailslotServer(name: path, maxMessageSize: 4096, readTimeout: .milliseconds(1000))
        }
        show(info: server)

        step(2, "Three writer processes each send three numbered messages:")
        for w in 1...3 {
            let args = ["send", path] + (1...3).map { "writer \(w), message \($0)" }
            say("   $ mailslot send '\(path)' \((1...3).map { "'writer \(w), message \($0)'" }.joined(separator: " "))")
            guard let writer = Sys.runProgramReportingProcess(me, args) else {
                FileHandle.standardError.write(Data("mailslot demo: could not start \(me) as a writer process\n".utf8))
                throw ExitCode.failure
            }
            say("     writer process \(writer.pid) exited with status \(writer.status)")
        }

        step(3, "This process opens the mailslot too and sends a zero-length message (a real message on Windows):")
        let writer = runOrFail { () throws(MailslotError) in try MailslotWriter(opening: path) }
        runOrFail { () throws(MailslotError) in try writer.write([UInt8]()) }
        show(info: server)

        step(4, "The server reads every message, oldest first, one whole message per read:")
        var n = 0
        while (try? server.info().messageCount) ?? 0 > 0 {
            n += 1
            let message = runOrFail { () throws(MailslotError) in try server.read() }
            say(message.isEmpty ? "   [\(n)] (zero-length message)" : "   [\(n)] \"\(String(decoding: message, as: UTF8.self))\" (\(message.count) bytes)")
        }
        show(info: server)

        step(5, "Reading the empty mailslot waits for the read timeout, then fails:")
        let start = Date()
        expectError("   read") { () throws(MailslotError) in _ = try server.read() }
        say("     (after \(Int(Date().timeIntervalSince(start) * 1000)) ms)")

        step(6, "Errors carry the Win32 codes Windows programs expect:")
        expectError("   create the same name again (other case)") { () throws(MailslotError) in
            _ = try MailslotServer(name: path.uppercased(), readTimeout: .immediate)
        }
        expectError("   open a name nobody serves") { () throws(MailslotError) in
            _ = try MailslotWriter(opening: "\\\\.\\mailslot\\demo\\nobody-\(pid)")
        }
        expectError("   create 'not-a-mailslot'") { () throws(MailslotError) in
            _ = try MailslotServer(name: "not-a-mailslot")
        }
        expectError("   write 5000 bytes (maximum 4096)") { () throws(MailslotError) in
            try writer.write([UInt8](repeating: 0x41, count: 5000))
        }
        runOrFail { () throws(MailslotError) in try writer.write("twelve bytes") }
        expectError("   read a 12-byte message into 4 bytes") { () throws(MailslotError) in
            _ = try server.read(maxLength: 4)
        }
        say("     the message stays queued: \(runOrFail { () throws(MailslotError) in try server.info().messageCount }) waiting")

        step(7, "Closing the server deletes the mailslot and its unread message; the name is free at once:")
        server.close()
        expectError("   write through the old writer") { () throws(MailslotError) in try writer.write("late") }
        expectError("   open the name again") { () throws(MailslotError) in _ = try MailslotWriter(opening: path) }
        let again = runOrFail { () throws(MailslotError) in try MailslotServer(name: path) }
        say("   create it again: ok (\(again.name))")
        again.close()
        say("")
        say("Done. Try it across terminals: mailslot listen '\\\\.\\mailslot\\x' and mailslot send '\\\\.\\mailslot\\x' hello")
    }

    func say(_ line: String) { emit(line) }

    func step(_ n: Int, _ text: String) {
        say("")
        say("\(n). \(text)")
    }

    func show(info server: MailslotServer) {
        let info = runOrFail { () throws(MailslotError) in try server.info() }
        let next = info.nextMessageSize.map { "\($0) bytes" } ?? "none (MAILSLOT_NO_MESSAGE)"
        say("   GetMailslotInfo: max message \(info.maxMessageSize), next message \(next), \(info.messageCount) waiting, read timeout \(info.readTimeout)")
    }

    func expectError(_ what: String, _ body: () throws(MailslotError) -> Void) {
        do throws(MailslotError) {
            try body()
            say("\(what) -> succeeded (unexpected)")
        } catch {
            say("\(what) -> \(error)")
        }
    }
}
