// Hidden subcommands the bench runs in child processes (it re-executes itself through /proc/self/exe).
// They report setup through the start barrier's descriptors (3: ready, 4: go) and failures through
// their exit status and standard error. Pipe and ring endpoints arrive as descriptors 5 and 6.
import ArgumentParser
import CBenchShim
import Glibc
import Mailslot

extension Mechanism: ExpressibleByArgument {}

/// One writer process of a throughput run: opens the receiver (pipe, ring: maps the descriptor number
/// `address`), waits at the barrier, sends `count` messages of `size` bytes stamped with its id and
/// sequence number, and exits.
struct WriterChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_writer", abstract: "(internal) a writer process of a throughput run.", shouldDisplay: false)

    @Option var mechanism: Mechanism
    @Option var address: String
    @Option var size: Int
    @Option var count: Int
    @Option var id: Int
    @Option(help: "Seconds after which the process kills itself.") var alarm: Int = 120

    func run() throws {
        childMain("_writer \(id)", alarmSeconds: UInt32(alarm)) { () throws(BenchError) in
            let sender = try makeSender(mechanism, address: address)
            ChildBarrier.signalReady()
            try ChildBarrier.waitForGo(timeoutSeconds: Int32(alarm))
            if let ring = sender as? RingSender { // no system call per message: call it directly
                try sendStamped(ring, writer: UInt32(id), count: count, size: size)
            } else {
                try sendStamped(sender, writer: UInt32(id), count: count, size: size)
            }
            sender.close()
        }
    }
}

/// The hot loop of a writer: no allocation, one send per message.
@inline(never)
func sendStamped<S: MessageSender>(_ sender: S, writer: UInt32, count: Int, size: Int) throws(BenchError) {
    let buffer = makeMessageBuffer(size)
    defer { buffer.deallocate() }
    let message = UnsafeRawBufferPointer(start: buffer.baseAddress, count: size)
    for sequence in 0..<count {
        MessageHeader.write(writer: writer, sequence: UInt32(truncatingIfNeeded: sequence), to: buffer.baseAddress!)
        try sender.send(message)
    }
}

/// The far side of a round-trip run: pinned to `cpu` (if given), it creates its own receiver at `listen`,
/// opens the parent's at `reply` (pipe, ring: maps the descriptors of those numbers), reports ready, and
/// echoes `count` messages back.
struct EchoChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_echo", abstract: "(internal) the echo side of a round-trip run.", shouldDisplay: false)

    @Option var mechanism: Mechanism
    @Option var listen: String
    @Option var reply: String
    @Option var size: Int
    @Option var count: Int
    @Option(help: "The CPU to pin to; none: run unpinned.") var cpu: Int?
    @Option var alarm: Int = 120

    func run() throws {
        childMain("_echo", alarmSeconds: UInt32(alarm)) { () throws(BenchError) in
            // Pin first: the mailslot server's I/O thread, started below, inherits the pin.
            if let cpu { guard cbench_pin_to_cpu(Int32(cpu)) == 0 else { throw .system("sched_setaffinity") } }
            let receiver = try makeReceiver(mechanism, address: listen, messageSize: size, idleMilliseconds: 5_000)
            defer { receiver.close() }
            let sender = try makeSender(mechanism, address: reply)
            defer { sender.close() }
            ChildBarrier.signalReady()
            if let ringIn = receiver as? RingReceiver, let ringOut = sender as? RingSender {
                try echo(ringIn, ringOut, count: count, size: size)
            } else {
                try echo(receiver, sender, count: count, size: size)
            }
        }
    }
}

@inline(never)
func echo<R: MessageReceiver, S: MessageSender>(_ receiver: R, _ sender: S, count: Int, size: Int) throws(BenchError) {
    let buffer = makeMessageBuffer(max(size, 8192))
    defer { buffer.deallocate() }
    for i in 0..<count {
        guard let n = try receiver.receive(into: buffer) else {
            throw BenchError("no message for 5 s (or end of file) after \(i) of \(count) round trips")
        }
        try sender.send(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n))
    }
}

/// The server of the memory run: creates a mailslot with a large quota, reports ready, and once told
/// (a byte on standard input) prints its message count and its own memory use on standard output.
struct MemoryServerChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_memory-server", abstract: "(internal) the server of the memory run.", shouldDisplay: false)

    @Option var name: String
    @Option var quota: Int
    @Option var alarm: Int = 120

    /// The /proc/self/status fields reported, in kB.
    static let fields = ["VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"]

    func run() throws {
        childMain("_memory-server", alarmSeconds: UInt32(alarm)) { () throws(BenchError) in
            let server: MailslotServer
            do throws(MailslotError) {
                server = try MailslotServer(name: name, options: .init(quota: quota))
            } catch {
                throw BenchError("could not create \(name) with a quota of \(quota) bytes: \(error)")
            }
            defer { server.close() }
            ChildBarrier.signalReady()
            // Wait for the parent's word that the writer has finished.
            guard cbench_wait_readable(0, Int32(alarm) * 1000) == 1 else { throw BenchError("no report request within \(alarm) s") }
            let info: MailslotInfo
            do throws(MailslotError) { info = try server.info() } catch { throw BenchError("info: \(error)") }
            let status = Machine.statusKilobytes(Self.fields)
            var line = "count=\(info.messageCount) queued_bytes=\(info.queuedBytes)"
            for field in Self.fields { line += " \(field)=\(status[field] ?? -1)" }
            Output.line(line)
        }
    }
}

/// The reader of the idle run: creates a mailslot (read timeout: forever), reports ready, and reads in
/// a loop, checking that writer 0's messages come in sequence, until a message from writer 1 (the stop
/// message) ends it; it must then have received `count` messages.
struct IdleReaderChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_idle-reader", abstract: "(internal) the reader of the idle run.", shouldDisplay: false)

    @Option var name: String
    @Option var count: Int
    @Option var alarm: Int = 120

    func run() throws {
        childMain("_idle-reader", alarmSeconds: UInt32(alarm)) { () throws(BenchError) in
            let server: MailslotServer
            do throws(MailslotError) {
                server = try MailslotServer(name: name, readTimeout: .forever)
            } catch {
                throw BenchError("could not create \(name): \(error)")
            }
            defer { server.close() }
            ChildBarrier.signalReady()
            let buffer = makeMessageBuffer(8192)
            defer { buffer.deallocate() }
            var received: UInt32 = 0
            while true {
                let n: Int
                do throws(MailslotError) { n = try server.read(into: buffer) } catch { throw BenchError("mailslot read: \(error)") }
                guard n >= MessageHeader.size else { throw BenchError("a \(n)-byte message") }
                let (writer, sequence) = MessageHeader.read(buffer.baseAddress!)
                if writer == 1 { break }
                guard writer == 0, sequence == received else {
                    throw BenchError("got writer \(writer) sequence \(sequence), expected writer 0 sequence \(received)")
                }
                received += 1
            }
            guard received == count else { throw BenchError("received \(received) messages before the stop, expected \(count)") }
        }
    }
}
