import Glibc
import MailslotCore

/// A UDP/IPv4 socket bound to a NetBIOS datagram port (138) that hands over each received datagram whole,
/// with its sender: for observers such as `mailslot browse` that read the LAN's datagrams themselves when
/// no daemon owns the port. Bound to all addresses, it receives the subnet broadcasts too.
///
/// Not for concurrent use: one thread receives.
package final class DatagramListener {
    /// One received datagram.
    package struct Datagram: Sendable, Hashable {
        /// The UDP payload; empty and `truncated` when it was larger than the receive buffer.
        package var bytes: [UInt8]
        package var truncated: Bool
        package var address: IPv4Address
        package var port: UInt16
    }

    /// The largest datagram kept whole: mailslot datagrams are at most about 600 bytes.
    package static let bufferSize = 8192

    package let port: UInt16
    package let address: IPv4Address
    private var fd: FD?
    private var buffer = [UInt8](repeating: 0, count: DatagramListener.bufferSize)

    /// Binds the port. Fails with ERROR_ACCESS_DENIED (5) when it cannot: its `cause` carries the errno
    /// (EADDRINUSE when another process, such as mailslotd or nmbd, owns the port; EACCES when a port below
    /// 1024 needs root or CAP_NET_BIND_SERVICE).
    package init(port: UInt16, address: IPv4Address = .any) throws(MailslotError) {
        self.port = port
        self.address = address
        do throws(Errno) {
            fd = try Sys.udpListener(address, port, receiveBuffer: 1 << 20) // bursts: elections, many hosts at once
        } catch {
            throw MailslotError(error, .listenUDP(port: port, address: address))
        }
    }

    deinit { close() }

    /// Closes the socket; later receives return nil.
    package func close() {
        if let fd { Sys.close(fd) }
        fd = nil
    }

    /// The next datagram, waiting at most `timeoutMilliseconds` (0: only what is already there); nil when
    /// none arrived in time or the listener is closed.
    package func receive(timeoutMilliseconds: Int32) throws(MailslotError) -> Datagram? {
        guard let fd else { return nil }
        do throws(Errno) {
            if let datagram = try take(fd) { return datagram }
            guard timeoutMilliseconds > 0 else { return nil }
            let ready = try Sys.poll(fd, .readable, timeoutMilliseconds: timeoutMilliseconds)
            guard !ready.isEmpty else { return nil }
            return try take(fd)
        } catch {
            throw MailslotError(.generalFailure, "receiving on UDP port \(port) failed: \(error.message)",
                                cause: .init(call: error.call, errno: error.code, errnoDescription: error.message))
        }
    }

    private func take(_ fd: FD) throws(Errno) -> Datagram? {
        guard let (count, address, port) = try Sys.receiveFrom(fd, into: &buffer) else { return nil }
        if count > buffer.count {
            return Datagram(bytes: [], truncated: true, address: address, port: port)
        }
        return Datagram(bytes: Array(buffer[0..<count]), truncated: false, address: address, port: port)
    }
}
