import ArgumentParser
import Dispatch
import Foundation
import Logging
import Mailslot
import MailslotFiles
import MailslotTransport

struct Mount: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve this machine's mailslots as files in a folder, until interrupted.",
        discussion: """
            Every mailslot appears as DIR/<path>/<name> (path levels are folders; names are matched without \
            regard to case). Any program then uses plain file calls:

              echo hello > DIR/app/events        one write(2) is one message (largest 1,044,480 bytes)
              python3 -c 'import os; fd = os.open("DIR/app/inbox", os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o600); print(os.read(fd, 65536))'

            Opening for writing is CreateFile: ENOENT when no server serves the name, EACCES when the \
            mailslot's access rule refuses the caller. Creating with O_CREAT|O_EXCL|O_RDONLY is \
            CreateMailslot on the caller's behalf (EEXIST when the name exists in any case); the mode's \
            write bits say who may write (0600: the owner; 0620: the caller's group; 0622: everyone). Each \
            read(2) returns one whole message (EMSGSIZE, and the message stays, when the buffer is too \
            small; EAGAIN with O_NONBLOCK when none waits); poll(2) says readable while one waits; the \
            mailslot is deleted when its descriptor and its duplicates are closed.

            As root the mount admits every user (allow_other) and checks each call against the \
            mailslot's own rule with the caller's credentials; as another user it works through \
            fusermount3 for that user alone. SIGINT or SIGTERM unmounts; a mount left by a killed \
            `mailslot mount` is detached at the next start. Needs libfuse3 (apt-get install fuse3).
            """
    )

    @Argument(help: "The folder to mount on (it must exist).")
    var folder: String

    @Option(help: "Milliseconds a read(2) of a mailslot created through a file waits for a message (default: for ever).")
    var readTimeout: UInt32?

    @Option(help: "Threads taking the kernel's requests.")
    var threads: Int = 4

    @Flag(help: "Log each operation's refusals on standard error (debug level).")
    var verbose = false

    func validate() throws {
        if threads < 1 || threads > 64 { throw ValidationError("--threads must be between 1 and 64") }
    }

    func run() throws {
        var logger = Logger(label: "mailslot.mount", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = verbose ? .debug : .warning
        let options = MailslotFileSystem.Options(mountPoint: folder, readTimeout: readTimeout.map { .milliseconds($0) } ?? .forever,
                                                 threads: threads, logger: logger)
        let fileSystem: MailslotFileSystem = runOrFail { () throws(MailslotError) in
            let fileSystem = try MailslotFileSystem(options)
            try fileSystem.start()
            return fileSystem
        }
        // SIGINT and SIGTERM unmount cleanly (a handler of our own signals a descriptor, whichever thread
        // the kernel interrupts).
        let signals: FD = runOrFail { () throws(MailslotError) in
            do throws(Errno) { return try Sys.signalDescriptor([SIGINT, SIGTERM]) } catch {
                throw MailslotError.system("could not handle SIGINT and SIGTERM", error)
            }
        }
        let watcher = try? Sys.startThread {
            _ = Sys.pollMany([signals], timeoutMilliseconds: -1)
            fileSystem.stop()
        }
        emit("mounted this machine's mailslots at \(folder) (libfuse \(MailslotFileSystem.libraryVersion)); Ctrl-C unmounts")
        fileSystem.wait()
        fileSystem.stop()
        // Unmounted from outside: the signal watcher is still waiting; release it and let it end.
        Sys.signalEventFD(signals)
        if let watcher { Sys.join(watcher) }
    }
}
