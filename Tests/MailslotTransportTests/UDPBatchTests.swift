import MailslotCore
import MailslotTestSupport
import Testing
@testable import MailslotTransport

/// Datagrams sent together (`Sys.OutgoingDatagrams`, `Sys.sendBatch`): what the bridge's re-broadcasts use.
@Suite("UDP batches")
struct UDPBatchTests {
    @Test func aBatchArrivesAsItsDatagramsInOrder() throws {
        let receiver = try Sys.udpListener(.loopback, 0, receiveBuffer: 1 << 20)
        defer { Sys.close(receiver) }
        let port = try Sys.localAddress(receiver).1
        let sender = try Sys.udpSocket()
        defer { Sys.close(sender) }
        var batch = Sys.OutgoingDatagrams()
        let datagrams: [[UInt8]] = [[1], [], [2, 3, 4], Array(repeating: 5, count: 600)]
        for datagram in datagrams { batch.append(datagram) }
        #expect(batch.count == 4 && (0..<4).map { Array(batch.datagram($0)) } == datagrams)
        #expect(try Sys.sendBatch(sender, batch, to: .loopback, port) == 4)
        let received = Sys.DatagramBatch(slots: 8, slotSize: 2048)
        var got: [[UInt8]] = []
        for _ in 0..<100 where got.count < 4 {
            _ = Sys.pollMany([receiver], timeoutMilliseconds: 100)
            let n = try received.receive(receiver)
            got += (0..<n).map { Array(received.datagram($0).bytes ?? UnsafeRawBufferPointer(start: nil, count: 0)) }
        }
        #expect(got == datagrams)
        batch.removeAll()
        #expect(batch.isEmpty && batch.bytes.isEmpty)
    }
}
