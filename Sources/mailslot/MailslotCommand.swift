import ArgumentParser
import Foundation
import Mailslot

@main
struct MailslotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailslot",
        abstract: "Windows mailslots on Linux: named, one-way, message-at-a-time queues.",
        discussion: """
            A mailslot is created by one server (`mailslot listen`), which alone reads it; any process that \
            knows the name writes to it (`mailslot send`). Names look like \\\\.\\mailslot\\app\\events \
            (quote them in the shell; / may stand for \\, and case does not matter).

            Every failure prints `error <code> <ERROR_NAME>: <what happened and what to do>` on standard \
            error, with the Win32 error code, and exits non-zero.
            """,
        version: MailslotVersion.string,
        subcommands: [Listen.self, Send.self, List.self, Mount.self, Browse.self, Decode.self, Demo.self]
    )
}

/// Prints a mailslot error the documented way and exits non-zero.
func fail(_ error: MailslotError) -> Never {
    FileHandle.standardError.write(Data((error.description + "\n").utf8))
    exit(1)
}

func runOrFail<T>(_ body: () throws(MailslotError) -> T) -> T {
    do throws(MailslotError) {
        return try body()
    } catch {
        fail(error)
    }
}

/// Writes a line to standard output and flushes it, so pipes see each message as it arrives.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
