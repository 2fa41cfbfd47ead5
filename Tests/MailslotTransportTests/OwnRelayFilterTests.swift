import Foundation
import MailslotCore
import MailslotTestSupport
import Testing
@testable import MailslotTransport

#if canImport(Glibc)
import Glibc
#endif

/// The filter a bridge puts on the gateway's datagram sockets (`Sys.dropOwnRelays`): the kernel's copy
/// of a broadcast that this host relayed from the gateway's port is dropped (the bridge delivers the
/// message into this host's mailslots itself), and nothing else is. It runs in a network namespace of its
/// own, on a LAN interface with a broadcast address (a veth pair): loopback has none.
@Suite("The gateway's filter of its own re-broadcasts")
struct OwnRelayFilterTests {
    static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"
    static let port: UInt16 = 4_138
    static let own = IPv4Address(10, 77, 0, 1)
    static let broadcast = IPv4Address(10, 77, 0, 255)

    /// What each datagram of the scenario is; its first byte is the tag.
    enum Kind: UInt8, CaseIterable {
        /// A broadcast this host wrote itself (its NetBIOS source is its own address) from the port.
        case ownWrite = 1
        /// A broadcast from the port whose NetBIOS source is another host: what the bridge re-broadcasts.
        case relayed
        /// The same from another port: not the gateway's.
        case relayedFromAnotherPort
        /// The same sent to this host's own address: not a broadcast, no copy.
        case relayedUnicast
        /// A broadcast from the port too short to carry a NetBIOS source.
        case short
    }

    @Test func onlyTheCopyOfWhatThisHostRelayedIsDropped() throws {
        guard TestSupport.rootAvailable(for: "the re-broadcast filter test (it makes a network namespace)"),
              TestSupport.programAvailable(Self.ip, for: "the re-broadcast filter test", install: "iproute2") else { return }
        // The namespace is this thread's alone (unshare), so that no other test's sockets move.
        let outcome = Locked<Result<(filtered: [Kind], unfiltered: [Kind]), Error>?>(nil)
        let thread = try Sys.startThread {
            let result = Result { () throws -> (filtered: [Kind], unfiltered: [Kind]) in
                try Self.enterOwnNamespace()
                return (try Self.scenario(filtered: true), try Self.scenario(filtered: false))
            }
            outcome.withLock { $0 = result }
        }
        Sys.join(thread)
        let got = try #require(outcome.withLock { $0 }).get()
        #expect(got.filtered.sorted { $0.rawValue < $1.rawValue } == [.ownWrite, .relayedFromAnotherPort, .relayedUnicast, .short])
        // Without the filter the relayed broadcast does come back: the filter is what drops it.
        #expect(got.unfiltered.sorted { $0.rawValue < $1.rawValue } == Kind.allCases)
    }

    /// Moves the calling thread into a new network namespace with a veth pair: 10.77.0.1/24 on one end.
    static func enterOwnNamespace() throws {
        // unshare(2) is not in Swift's Glibc module (it needs _GNU_SOURCE): taken from libc by name.
        typealias Unshare = @convention(c) (Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "unshare") else { throw TestSupport.Failure("libc has no unshare") }
        let cloneNewNet: Int32 = 0x4000_0000 // CLONE_NEWNET
        guard unsafeBitCast(symbol, to: Unshare.self)(cloneNewNet) == 0 else {
            throw TestSupport.Failure("unshare(CLONE_NEWNET): \(String(cString: strerror(errno)))")
        }
        for arguments in [["link", "set", "lo", "up"], ["link", "add", "mst0", "type", "veth", "peer", "name", "mst1"],
                          ["link", "set", "mst1", "up"], ["addr", "add", "10.77.0.1/24", "brd", "+", "dev", "mst0"], ["link", "set", "mst0", "up"]] {
            let result = try TestSupport.run(ip, arguments, timeout: 10) // started from this thread: in its namespace
            guard result.status == 0 else { throw TestSupport.Failure("ip \(arguments.joined(separator: " ")): \(result.output)") }
        }
    }

    /// Sends one datagram of each kind and returns the kinds a socket on the port received, with or
    /// without the filter.
    static func scenario(filtered: Bool) throws -> [Kind] {
        let gateway = try Sys.udpListener(.any, port, receiveBuffer: 1 << 20)
        defer { Sys.close(gateway) }
        if filtered { try Sys.dropOwnRelays(gateway, port: port) }
        let other = try Sys.udpSocket()
        defer { Sys.close(other) }
        try Sys.setBroadcast(other)
        func datagram(_ kind: Kind, source: IPv4Address) -> [UInt8] {
            // A DIRECT_GROUP header as far as the source address: type, flags, id, address, port, lengths.
            [0x11, 0x02, 0x00, kind.rawValue] + withUnsafeBytes(of: source.value.bigEndian, Array.init) + [0x00, 0x8A, 0x00, 0x10, 0x00, 0x00, kind.rawValue]
        }
        let elsewhere = IPv4Address(10, 9, 9, 9)
        _ = try Sys.sendTo(gateway, datagram(.ownWrite, source: own), broadcast, port)
        _ = try Sys.sendTo(gateway, datagram(.relayed, source: elsewhere), broadcast, port)
        _ = try Sys.sendTo(other, datagram(.relayedFromAnotherPort, source: elsewhere), broadcast, port)
        _ = try Sys.sendTo(gateway, datagram(.relayedUnicast, source: elsewhere), own, port)
        _ = try Sys.sendTo(gateway, [0x11, 0x02, 0x00, Kind.short.rawValue], broadcast, port)
        let batch = Sys.DatagramBatch(slots: 8, slotSize: 256)
        var kinds: [Kind] = []
        while !Sys.pollMany([gateway], timeoutMilliseconds: 300).isEmpty { // until 300 ms pass without one
            let n = try batch.receive(gateway)
            kinds += (0..<n).compactMap { batch.datagram($0).bytes.flatMap { $0.count > 3 ? Kind(rawValue: $0[3]) : nil } }
        }
        return kinds
    }
}
