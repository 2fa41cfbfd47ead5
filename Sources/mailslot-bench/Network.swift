// `mailslot-bench network`: datagrams per second that the gateway receives and delivers into a local
// mailslot on loopback, against a plain UDP receive loop measured in the same run.
import ArgumentParser
import CBenchShim
import Foundation
import Logging
import Mailslot
import MailslotGateway

struct Network: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Gateway throughput on loopback against a raw UDP receive loop.",
        discussion: """
            A sender process (this binary, re-executed) sends N copies of one Remote Mailslot Protocol datagram \
            to 127.0.0.1 with sendmmsg as fast as it can. The receiver is either a plain UDP receive loop \
            (`raw-udp`: recv and count, nothing else) or the gateway (`gateway`: recvmmsg, decode, filter, write \
            into a local mailslot, with a reader draining that mailslot in this process). Each is timed from the \
            first to the last datagram it handled; UDP drops what a receiver cannot keep up with, so the rate is \
            the receiver's capacity. Median of --runs runs, mechanisms interleaved.

            --json prints one object per row: mechanism, size, writers (1), messages_per_second (delivered for \
            the gateway), p50_us and p99_us (null).
            """
    )

    @Option(help: "Datagrams the sender sends per run.")
    var messages: Int = 200_000

    @Option(help: "Runs per row (the median is reported).")
    var runs: Int = 3

    @Option(help: "Message sizes in bytes (data carried by each datagram; at most 424).", transform: { text in
        try text.split(separator: ",").map { guard let v = Int($0), v >= 0, v <= 424 else { throw ValidationError("bad size \($0)") }; return v }
    })
    var sizes: [Int] = [64, 424]

    @Flag(help: "One JSON object per row instead of the table.")
    var json = false

    struct Sample {
        var received: Double
        var delivered: Double
        var lost: Int
    }

    func run() throws {
        if !json {
            Output.line("mailslot-bench network")
            Output.line("machine: \(Machine.summary)")
            Output.line("command: \(Machine.commandLine)")
            Output.line("method: median of \(runs) run(s); \(Format.grouped(Double(messages))) datagrams sent per run by one sender process on 127.0.0.1")
            Output.line("")
        }
        var table = TextTable([("size B", .right), ("mechanism", .left), ("received/s", .right), ("delivered/s", .right),
                               ("lost %", .right), ("vs raw-udp", .right)])
        for size in sizes {
            var raw: [Sample] = [], gateway: [Sample] = []
            for _ in 0..<runs {
                raw.append(try measureRaw(size))
                gateway.append(try measureGateway(size))
            }
            let rawRate = Stats.median(raw.map(\.received))
            let gwReceived = Stats.median(gateway.map(\.received))
            let gwDelivered = Stats.median(gateway.map(\.delivered))
            let lostRaw = Stats.median(raw.map { Double($0.lost) / Double(messages) * 100 })
            let lostGw = Stats.median(gateway.map { Double($0.lost) / Double(messages) * 100 })
            if json {
                Output.line(ResultRow(mechanism: "raw-udp", size: size, writers: 1, messagesPerSecond: rawRate, p50Microseconds: nil, p99Microseconds: nil).json)
                Output.line(ResultRow(mechanism: "gateway", size: size, writers: 1, messagesPerSecond: gwDelivered, p50Microseconds: nil, p99Microseconds: nil).json)
            } else {
                table.add(["\(size)", "raw-udp", rawRate.map(Format.grouped) ?? "-", "-", lostRaw.map { Format.fixed($0, 1) } ?? "-", "1.00x"])
                table.add(["\(size)", "gateway", gwReceived.map(Format.grouped) ?? "-", gwDelivered.map(Format.grouped) ?? "-",
                           lostGw.map { Format.fixed($0, 1) } ?? "-", Stats.ratio(gwDelivered, rawRate).map { Format.fixed($0, 2) + "x" } ?? "-"])
            }
        }
        if !json {
            Output.line(table.render())
            Output.line("")
            Output.line("target: gateway delivered/s at least 0.8x the raw UDP receive loop")
        }
    }

    /// The datagram the sender repeats: Windows style, to GWBENCH<00>, for the bench's mailslot.
    func datagram(_ size: Int, mailslot: String) throws -> [UInt8] {
        try NetBIOSMailslotDatagram(messageType: .directUnique, datagramID: 1, sourceIP: IPv4Address.loopback.value,
                                    sourceName: NetBIOSName("SENDER"), destinationName: NetBIOSName("GWBENCH"),
                                    mailslotName: "\\MAILSLOT\\" + mailslot, data: [UInt8](repeating: 0x61, count: size)).encoded()
    }

    var mailslotPath: String { "bench\\net-\(getpid())" }

    /// Counts what `receive` takes (true: one message; false: nothing within its own short wait) until all
    /// messages arrived or the sender has finished and nothing more comes, and returns the count and the
    /// rate from the first arrival to the last. Bounded to 60 s.
    func countArrivals(_ sender: ChildProcess, _ receive: () throws -> Bool) throws -> (count: Int, rate: Double) {
        var count = 0
        var first: UInt64 = 0, last: UInt64 = 0
        let deadline = Clock.deadline(seconds: 60)
        while count < messages && Clock.now < deadline {
            guard try receive() else {
                if sender.hasExited { break } else { continue }
            }
            last = Clock.now
            if count == 0 { first = last }
            count += 1
        }
        try sender.finish(timeoutMilliseconds: 10_000)
        let seconds = Clock.seconds(last - first)
        return (count, count > 1 && seconds > 0 ? Double(count - 1) / seconds : 0)
    }

    /// The local port a UDP socket is bound to.
    func boundPort(_ fd: Int32) -> UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Starts the sender child for `port` and returns it once it is ready; `release` starts it.
    func startSender(_ bytes: [UInt8], port: UInt16) throws -> (ChildProcess, StartBarrier) {
        var barrier = try StartBarrier()
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let child = try ChildProcess(["_udp-sender", "--port", "\(port)", "--count", "\(messages)", "--hex", hex],
                                     label: "udp sender", descriptors: barrier.childDescriptors)
        try barrier.waitReady(1, children: [child], timeoutSeconds: 20)
        return (child, barrier)
    }

    func measureRaw(_ size: Int) throws -> Sample {
        let fd = cbench_udp_socket(0, 4 << 20)
        guard fd >= 0 else { throw BenchError.system("udp socket") }
        defer { close(fd) }
        let port = boundPort(fd)
        var (sender, barrier) = try startSender(try datagram(size, mailslot: mailslotPath), port: port)
        defer { barrier.close(); sender.kill() }
        barrier.release()
        var buffer = [UInt8](repeating: 0, count: 65536)
        let (count, rate) = try countArrivals(sender) {
            let n = buffer.withUnsafeMutableBytes { cbench_udp_receive(fd, $0.baseAddress, $0.count, 300) }
            if n < 0 { throw BenchError.system("recv") }
            return n > 0
        }
        return Sample(received: rate, delivered: 0, lost: messages - count)
    }

    func measureGateway(_ size: Int) throws -> Sample {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let server = try MailslotServer(name: try MailslotName(local: mailslotPath), readTimeout: .milliseconds(300),
                                        options: .init(allowNetwork: true, quota: 256 << 20))
        defer { server.close() }
        // Find a free port: bind the gateway to 127.0.0.1 on a port picked by the kernel for a probe socket.
        let probe = cbench_udp_socket(0, 0)
        let port = boundPort(probe)
        close(probe)
        let gateway = try Gateway(configuration: .init(computerName: "GWBENCH", workgroup: "BENCH", interfaces: ["127.0.0.1"], port: port,
                                                       nameService: false), logger: logger)
        let thread = Thread { gateway.run() }
        thread.start()
        defer {
            gateway.stop()
            let stop = Clock.deadline(seconds: 10)
            while !thread.isFinished && Clock.now < stop { usleep(1000) }
        }
        var (sender, barrier) = try startSender(try datagram(size, mailslot: mailslotPath), port: port)
        defer { barrier.close(); sender.kill() }
        barrier.release()
        var buffer = [UInt8](repeating: 0, count: 65536)
        let (count, rate) = try countArrivals(sender) {
            do {
                _ = try buffer.withUnsafeMutableBytes { try server.read(into: $0) }
                return true
            } catch let error as MailslotError where error.code == .semTimeout {
                return false
            }
        }
        let counters = gateway.counters
        let receivedRate = count > 0 ? rate * Double(counters.received) / Double(count) : 0
        return Sample(received: receivedRate, delivered: rate, lost: messages - count)
    }
}

/// The sender of a network run: sends `count` copies of one datagram to 127.0.0.1:port.
struct UDPSenderChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_udp-sender", abstract: "(internal) the sender of a network run.", shouldDisplay: false)

    @Option var port: UInt16
    @Option var count: Int
    @Option var hex: String

    func run() throws {
        childMain("_udp-sender", alarmSeconds: 120) { () throws(BenchError) in
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                guard let b = UInt8(hex[index..<next], radix: 16) else { throw BenchError("bad --hex") }
                bytes.append(b)
                index = next
            }
            let fd = cbench_udp_socket(0, 0)
            guard fd >= 0 else { throw .system("udp socket") }
            ChildBarrier.signalReady()
            try ChildBarrier.waitForGo(timeoutSeconds: 60)
            let sent = bytes.withUnsafeBytes { cbench_udp_blast(fd, $0.baseAddress, $0.count, port, count) }
            guard sent == count else { throw BenchError("sent only \(sent) of \(count) datagrams") }
        }
    }
}
