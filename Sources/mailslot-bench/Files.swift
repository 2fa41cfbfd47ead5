// `mailslot-bench files`: mailslots through plain file calls (the FUSE file system), against a FIFO (the
// standard-file queue a Linux user would reach for) and a FUSE file system that does nothing (the floor
// FUSE itself sets), all measured in the same run.
import ArgumentParser
import CBenchShim
import CMailslotFuse
import Foundation
import Glibc
import Logging
import Mailslot
import MailslotFiles
import MailslotTransport

struct Files: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files",
        abstract: "Mailslots as files (FUSE) against a FIFO and a no-op FUSE file system.",
        discussion: """
            Needs root, /dev/fuse and libfuse3. Three mechanisms, each written by one writer process (this binary, \
            re-executed) with one open(O_WRONLY) and then one write(2) per message:
              mailslot-files  a mailslot's file in the Mailslot file system (mounted by this process),
                              read by the mailslot's server (the Swift API, in this process), every message checked
              fifo            a FIFO (mkfifo), read by this process (a FIFO keeps no message boundaries)
              noop-fuse       a FUSE file system of this process whose write answers at once and keeps nothing
            Throughput: messages per second from the start signal until the reader has every message (noop-fuse: \
            until the writer has finished). Round trip: a process that reads from one file and writes what it read \
            to another, p50 and p99 (mailslot-files: two mailslots, each created through a file with \
            open(O_CREAT|O_EXCL|O_RDONLY); fifo: two FIFOs). Median of --runs runs, mechanisms interleaved.

            --json prints one object per row: mechanism, size, writers (1), messages_per_second, p50_us, p99_us.
            """
    )

    @Option(help: "Messages per throughput run.")
    var messages: Int = 100_000

    @Option(help: "Round trips per latency run (after 1,000 for warm-up).")
    var roundTrips: Int = 20_000

    @Option(help: "Runs per row (the median is reported).")
    var runs: Int = 3

    @Option(help: "Message sizes in bytes.", transform: { text in
        try text.split(separator: ",").map { guard let v = Int($0), v >= 8, v <= 65536 else { throw ValidationError("bad size \($0)") }; return v }
    })
    var sizes: [Int] = [64, 424, 4096]

    @Flag(help: "One JSON object per row instead of the table.")
    var json = false

    enum Kind: String, CaseIterable { case mailslotFiles = "mailslot-files", fifo, noopFuse = "noop-fuse" }

    func run() throws {
        guard geteuid() == 0 else { throw BenchError("mailslot-bench files needs root (FUSE mounts with allow_other)") }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-bench-files-\(getpid())").path
        let noopFolder = folder + "-noop"
        for path in [folder, noopFolder] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        defer { for path in [folder, noopFolder] { try? FileManager.default.removeItem(atPath: path) } }
        let fileSystem = try MailslotFileSystem(.init(mountPoint: folder))
        try fileSystem.start()
        defer { fileSystem.stop() }
        let noop = try NoopFileSystem(mountPoint: noopFolder)
        defer { noop.stop() }
        let fifos = folder + "-fifo"
        try FileManager.default.createDirectory(atPath: fifos, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: fifos) }

        if !json {
            Output.line("mailslot-bench files")
            Output.line("machine: \(Machine.summary); libfuse \(MailslotFileSystem.libraryVersion)")
            Output.line("command: \(Machine.commandLine)")
            Output.line("method: median of \(runs) run(s); \(Format.grouped(Double(messages))) messages per throughput run from one writer process; \(Format.grouped(Double(roundTrips))) round trips")
            Output.line("")
        }
        var table = TextTable([("size B", .right), ("mechanism", .left), ("messages/s", .right), ("vs noop-fuse", .right), ("vs fifo", .right),
                               ("p50 us", .right), ("p99 us", .right)])
        var targets: [String] = []
        for size in sizes {
            var rates: [Kind: [Double]] = [:]
            var latencies: [Kind: [(Double, Double)]] = [:]
            for _ in 0..<runs {
                for kind in Kind.allCases {
                    rates[kind, default: []].append(try throughput(kind, size: size, folder: folder, noopFolder: noopFolder, fifos: fifos))
                    if kind != .noopFuse { latencies[kind, default: []].append(try roundTrip(kind, size: size, folder: folder, fifos: fifos)) }
                }
            }
            let median = rates.mapValues { Stats.median($0) }
            for kind in Kind.allCases {
                let rate = median[kind] ?? nil
                let p50 = Stats.median(latencies[kind]?.map(\.0) ?? [])
                let p99 = Stats.median(latencies[kind]?.map(\.1) ?? [])
                if json {
                    Output.line(ResultRow(mechanism: kind.rawValue, size: size, writers: 1, messagesPerSecond: rate, p50Microseconds: p50, p99Microseconds: p99).json)
                } else {
                    table.add(["\(size)", kind.rawValue, rate.map(Format.grouped) ?? "-",
                               Stats.ratio(rate, median[.noopFuse] ?? nil).map { Format.fixed($0, 2) + "x" } ?? "-",
                               Stats.ratio(rate, median[.fifo] ?? nil).map { Format.fixed($0, 2) + "x" } ?? "-",
                               p50.map { Format.fixed($0, 1) } ?? "-", p99.map { Format.fixed($0, 1) } ?? "-"])
                }
            }
            if size == 424, let ratio = Stats.ratio(median[.mailslotFiles] ?? nil, median[.noopFuse] ?? nil) {
                targets.append("424 B: mailslot-files at \(Format.fixed(ratio, 2))x the no-op FUSE write rate (target 0.7x): \(ratio >= 0.7 ? "met" : "missed")")
            }
        }
        if !json {
            Output.line(table.render())
            Output.line("")
            targets.forEach(Output.line)
        }
    }

    // MARK: throughput

    /// One throughput run; messages per second.
    func throughput(_ kind: Kind, size: Int, folder: String, noopFolder: String, fifos: String) throws -> Double {
        switch kind {
        case .mailslotFiles:
            let leaf = "bench-\(getpid())-\(size)"
            let server = try MailslotServer(name: try MailslotName(local: leaf), readTimeout: .milliseconds(10_000), options: .init(quota: 64 << 20))
            defer { server.close() }
            let buffer = makeMessageBuffer(max(size, 8192))
            defer { buffer.deallocate() }
            return try timedWrite(path: folder + "/" + leaf, size: size) {
                for sequence in 0..<messages {
                    let n: Int
                    do throws(MailslotError) { n = try server.read(into: buffer) } catch { throw BenchError("mailslot read after \(sequence): \(error)") }
                    guard n == size, MessageHeader.read(buffer.baseAddress!) == (0, UInt32(sequence)) else {
                        throw BenchError("message \(sequence): \(n) bytes, header \(MessageHeader.read(buffer.baseAddress!))")
                    }
                }
            }
        case .fifo:
            let path = fifos + "/fifo-\(size)"
            unlink(path)
            guard mkfifo(path, 0o600) == 0 else { throw BenchError.system("mkfifo") }
            defer { unlink(path) }
            // Opened non-blocking first, so that the writer's open finds a reader.
            let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { throw BenchError.system("open fifo") }
            defer { close(fd) }
            let buffer = makeMessageBuffer(1 << 16)
            defer { buffer.deallocate() }
            return try timedWrite(path: path, size: size) {
                var total = 0
                let wanted = messages * size
                let deadline = Clock.deadline(seconds: 60)
                while total < wanted {
                    let n = read(fd, buffer.baseAddress, buffer.count)
                    if n > 0 { total += n; continue }
                    if n == 0 || errno == EAGAIN { _ = cbench_wait_readable(fd, 100) } else if errno != EINTR { throw BenchError.system("read fifo") }
                    if Clock.now > deadline { throw BenchError("fifo: \(total) of \(wanted) bytes in 60 s") }
                }
            }
        case .noopFuse:
            return try timedWrite(path: noopFolder + "/sink", size: size) {}
        }
    }

    /// Starts a writer of `messages` writes to `path`, releases it, runs `read` (the reader's side), waits
    /// for the writer, and returns messages per second from the release to the later of the two.
    func timedWrite(path: String, size: Int, read: () throws -> Void) throws -> Double {
        var barrier = try StartBarrier()
        defer { barrier.close() }
        let writer = try ChildProcess(["_file-writer", "--path", path, "--size", "\(size)", "--count", "\(messages)"],
                                      label: "file writer", descriptors: barrier.childDescriptors)
        defer { writer.kill() }
        try barrier.waitReady(1, children: [writer], timeoutSeconds: 20)
        let start = Clock.now
        barrier.release()
        try read()
        try writer.finish(timeoutMilliseconds: 60_000)
        return Double(messages) / Clock.seconds(Clock.now - start)
    }

    // MARK: round trip

    /// One round-trip run: p50 and p99 in microseconds.
    func roundTrip(_ kind: Kind, size: Int, folder: String, fifos: String) throws -> (Double, Double) {
        let there: String, back: String
        switch kind {
        case .mailslotFiles:
            there = folder + "/rt-there-\(getpid())-\(size)"
            back = folder + "/rt-back-\(getpid())-\(size)"
        case .fifo:
            there = fifos + "/rt-there-\(size)"
            back = fifos + "/rt-back-\(size)"
            for path in [there, back] {
                unlink(path)
                guard mkfifo(path, 0o600) == 0 else { throw BenchError.system("mkfifo") }
            }
        case .noopFuse:
            throw BenchError("no round trip through a file system that keeps nothing")
        }
        defer { if kind == .fifo { unlink(there); unlink(back) } }
        let create = kind == .mailslotFiles
        // This side's reading end: a mailslot created through its file, or the FIFO opened without blocking.
        let incoming = create ? open(back, O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC, 0o600) : open(back, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard incoming >= 0 else { throw BenchError.system("open \(back)") }
        defer { close(incoming) }
        if !create { _ = fcntl(incoming, F_SETFL, 0) } // blocking reads from here on
        let echo = try ChildProcess(["_file-echo", "--listen", there, "--reply", back, "--size", "\(size)", "--count", "\(roundTrips + 1_000)"]
                                    + (create ? ["--create"] : []), label: "file echo")
        defer { echo.kill() }
        // The echo side creates `there` (or opens the FIFO for reading); wait until it can be opened for writing.
        var outgoing: Int32 = -1
        let deadline = Clock.deadline(seconds: 20)
        defer { _ = deadline }
        while outgoing < 0 {
            outgoing = open(there, (create ? O_WRONLY : O_WRONLY | O_NONBLOCK) | O_CLOEXEC)
            if outgoing < 0 {
                if Clock.now > deadline || echo.hasExited { throw BenchError("the echo process did not open \(there)") }
                usleep(1_000)
            }
        }
        defer { close(outgoing) }
        if !create { _ = fcntl(outgoing, F_SETFL, 0) }
        let send = makeMessageBuffer(size)
        defer { send.deallocate() }
        let receive = makeMessageBuffer(max(size, 8192))
        defer { receive.deallocate() }
        var times: [Double] = []
        times.reserveCapacity(roundTrips)
        for i in 0..<(roundTrips + 1_000) {
            MessageHeader.write(writer: 0, sequence: UInt32(i), to: send.baseAddress!)
            let start = Clock.now
            guard write(outgoing, send.baseAddress, size) == size else { throw BenchError.system("write \(there)") }
            var got = 0
            while got < size { // a FIFO may hand a message over in pieces; a mailslot file never does
                let n = read(incoming, receive.baseAddress! + got, receive.count - got)
                if n == 0 && i == 0 && Clock.now < deadline {
                    usleep(100) // a FIFO reads as ended until the echo process has opened it for writing
                    continue
                }
                guard n > 0 else { throw n == 0 ? BenchError("\(back) ended at round trip \(i)") : BenchError.system("read \(back)") }
                got += n
            }
            let end = Clock.now
            guard got == size, MessageHeader.read(receive.baseAddress!).sequence == UInt32(i) else { throw BenchError("round trip \(i): wrong reply") }
            if i >= 1_000 { times.append(Double(end - start) / 1_000) }
        }
        try echo.finish(timeoutMilliseconds: 10_000)
        times.sort()
        return (Stats.percentile(sorted: times, 50) ?? 0, Stats.percentile(sorted: times, 99) ?? 0)
    }
}

/// The writer of a throughput run: one open(O_WRONLY), then `count` write(2)s of `size` bytes.
struct FileWriterChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_file-writer", abstract: "(internal) the writer of a files run.", shouldDisplay: false)

    @Option var path: String
    @Option var size: Int
    @Option var count: Int

    func run() throws {
        childMain("_file-writer", alarmSeconds: 120) { () throws(BenchError) in
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .system("open \(path)") }
            defer { close(fd) }
            let buffer = makeMessageBuffer(size)
            defer { buffer.deallocate() }
            ChildBarrier.signalReady()
            try ChildBarrier.waitForGo(timeoutSeconds: 60)
            for sequence in 0..<count {
                MessageHeader.write(writer: 0, sequence: UInt32(truncatingIfNeeded: sequence), to: buffer.baseAddress!)
                var done = 0
                while done < size { // a FIFO may take part of a write; a mailslot file takes all or nothing
                    let n = write(fd, buffer.baseAddress! + done, size - done)
                    if n < 0 { if errno == EINTR { continue }; throw .system("write \(path) after \(sequence)") }
                    done += n
                }
            }
        }
    }
}

/// The far side of a files round trip: reads each message from `listen` (a mailslot it creates through
/// its file with --create, else a FIFO) and writes it to `reply`.
struct FileEchoChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_file-echo", abstract: "(internal) the echo side of a files round trip.", shouldDisplay: false)

    @Option var listen: String
    @Option var reply: String
    @Option var size: Int
    @Option var count: Int
    @Flag var create = false

    func run() throws {
        childMain("_file-echo", alarmSeconds: 120) { () throws(BenchError) in
            let incoming = create ? open(listen, O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC, 0o600) : open(listen, O_RDONLY | O_CLOEXEC)
            guard incoming >= 0 else { throw .system("open \(listen)") }
            defer { close(incoming) }
            let outgoing = open(reply, O_WRONLY | O_CLOEXEC)
            guard outgoing >= 0 else { throw .system("open \(reply)") }
            defer { close(outgoing) }
            let buffer = makeMessageBuffer(max(size, 8192))
            defer { buffer.deallocate() }
            for i in 0..<count {
                var got = 0
                while got < size {
                    let n = read(incoming, buffer.baseAddress! + got, buffer.count - got)
                    guard n > 0 else { throw .system("read \(listen) at \(i)") }
                    got += n
                }
                guard write(outgoing, buffer.baseAddress, size) == size else { throw .system("write \(reply) at \(i)") }
            }
        }
    }
}

/// A FUSE file system with one file, `sink`, whose writes are answered at once and kept nowhere: the
/// cost of FUSE itself (the kernel's round trip to a daemon), with the same threads and options as the
/// Mailslot file system.
final class NoopFileSystem {
    private let channel: FuseChannel

    init(mountPoint: String) throws {
        channel = try FuseChannel(mountPoint: mountPoint, options: ["fsname=noop", "subtype=noop", "allow_other"],
                                  operations: NoopFileSystem.operations, userdata: nil,
                                  logger: Logger(label: "noop", factory: { _ in SwiftLogNoOpLogHandler() }))
        try channel.start(threads: 4)
    }

    func stop() {
        channel.stop()
        channel.unmount()
    }

    static let sinkInode: cmf_fuse_ino_t = 2

    static func attributes(_ ino: cmf_fuse_ino_t) -> stat {
        var st = stat()
        st.st_ino = __ino_t(ino)
        st.st_mode = ino == UInt64(CMF_FUSE_ROOT_ID) ? 0o040755 : 0o100666
        st.st_nlink = 1
        return st
    }

    nonisolated(unsafe) static let operations: UnsafeMutablePointer<cmf_fuse_lowlevel_ops> = {
        let ops = UnsafeMutablePointer<cmf_fuse_lowlevel_ops>.allocate(capacity: 1)
        ops.initialize(to: cmf_fuse_lowlevel_ops())
        ops.pointee.lookup = { req, parent, name in
            guard parent == UInt64(CMF_FUSE_ROOT_ID), String(cString: name) == "sink" else { cmf_reply_err(req, ENOENT); return }
            var entry = cmf_fuse_entry_param(ino: sinkInode, generation: 0, attr: attributes(sinkInode), attr_timeout: 0, entry_timeout: 0)
            cmf_reply_entry(req, &entry)
        }
        ops.pointee.forget = { req, _, _ in cmf_reply_none(req) }
        ops.pointee.getattr = { req, ino, _ in
            var st = attributes(ino)
            cmf_reply_attr(req, &st, 0)
        }
        ops.pointee.open = { req, _, fi in
            cmf_fi_set(fi, CMF_FI_DIRECT_IO, 1)
            cmf_fi_set(fi, CMF_FI_NONSEEKABLE, 1)
            cmf_reply_open(req, fi)
        }
        ops.pointee.write = { req, _, _, size, _, _ in cmf_reply_write(req, size) }
        ops.pointee.release = { req, _, _ in cmf_reply_err(req, 0) }
        return ops
    }()
}
