/// The format of the ring one writer shares with the server (the transport maps it; this file only
/// reads bytes, so that the rules can be tested and fuzzed without a kernel).
///
/// Layout: a 4 KiB header page, then `capacity` bytes of records. Positions grow monotonically; the
/// offset in the ring is `position % capacity`. Every header field has one writer:
///
/// | offset | field | written by |
/// |---|---|---|
/// | 0 | magic `MSLTRNG1` (u64), 8: capacity (u32) | server, at creation |
/// | 64 | head: the position the server has consumed up to (u64) | server |
/// | 72 | head wake: bumped when the server consumes for a writer that waits (futex, u32) | server |
/// | 76 | writer waiting (u32) | writer sets, server clears |
/// | 128 | tail: the position the writer has published up to (u64, release) | writer |
/// | 192 | reader sleeping: set before the server sleeps; the writer that clears it rings the doorbell | both |
/// | 256 | closed: the server has let go of the mailslot (u32) | server |
///
/// A record is a 16-byte header (`u32 length, u8 kind, 3 bytes zero, u64 stamp`) and `length` bytes,
/// padded to 16. The stamp is CLOCK_MONOTONIC when the write began publishing (it orders messages across
/// writers); in a ``RingKind/first`` record it is the whole message's length instead. A record never
/// straddles the end of the ring: a ``RingKind/wrap`` record there says the next one starts at offset 0.
/// One record carries at most ``maxPayload`` bytes (half the ring, so an empty ring always takes one);
/// bigger messages travel as a first record, parts, and a last record.
package enum RingLayout {
    package static let headerSize = 4096
    package static let capacity = 64 * 1024
    package static let mappedSize = headerSize + capacity
    package static let magic: UInt64 = 0x3147_4E52_544C_534D // "MSLTRNG1" little-endian
    package static let recordHeader = 16
    /// The largest payload of one record in a ring of ``capacity`` bytes.
    package static let maxPayload = maxPayload(capacity: capacity)

    package static func maxPayload(capacity: Int) -> Int { capacity / 2 - recordHeader }

    @inline(__always)
    package static func recordSize(_ length: Int) -> Int { recordHeader + ((length + 15) & ~15) }

    package enum Offset {
        package static let magic = 0, capacity = 8, head = 64, headWake = 72, writerWaiting = 76, tail = 128
        package static let readerSleeping = 192, closed = 256
    }
}

/// The kind byte of a ring record.
package enum RingKind: UInt8, Sendable {
    case whole = 0x57 // 'W'
    case first = 0x46 // 'F': the first part of a larger message; its stamp field holds the message's length
    case part = 0x50 // 'P'
    case last = 0x4C // 'L'
    case wrap = 0x58 // 'X': the rest of the ring is empty; the next record starts at offset 0
}

/// Reads records out of a ring that its writer may change at any moment. It trusts nothing: the tail is
/// given once per look, each record header is copied once and checked against the ring and the tail
/// before any of its bytes is touched, and what is returned points only inside the ring.
package struct RingReader {
    package let data: UnsafeRawPointer
    package let capacity: Int

    package init(data: UnsafeRawPointer, capacity: Int) {
        precondition(capacity >= 64 && capacity % 16 == 0)
        self.data = data
        self.capacity = capacity
    }

    /// One record as the server sees it.
    package enum Record {
        case empty
        /// A record whose header passed every check; `payload` points into the ring (copy it once), `end`
        /// is the position after it.
        case record(kind: RingKind, stamp: UInt64, payload: UnsafeRawBufferPointer, end: UInt64)
        /// The writer broke the ring's rules; the server drops it.
        case violation(String)
    }

    /// The record at `position` (at or after `head`, the server's own consumed position), given the tail
    /// read once.
    package func record(at position: UInt64, head: UInt64, tail: UInt64) -> Record {
        var position = position
        guard tail >= position, position >= head, tail - head <= UInt64(capacity), tail & 15 == 0, position & 15 == 0 else {
            return .violation("a ring tail outside the ring")
        }
        while true {
            if position == tail { return .empty }
            let offset = Int(position % UInt64(capacity))
            let room = capacity - offset
            // One copy of the header: what is checked is what is used.
            let length = Int(data.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            let kindByte = data.loadUnaligned(fromByteOffset: offset + 4, as: UInt8.self)
            let stamp = data.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
            guard let kind = RingKind(rawValue: kindByte) else { return .violation("an unknown record kind \(kindByte)") }
            if kind == .wrap {
                guard tail - position >= UInt64(room) else { return .violation("a wrap record past the tail") }
                position += UInt64(room)
                continue
            }
            guard length <= RingLayout.maxPayload(capacity: capacity) else {
                return .violation("a record of \(length) bytes, more than a ring record holds")
            }
            let size = RingLayout.recordSize(length)
            guard size <= room, UInt64(size) <= tail - position else { return .violation("a record that runs past the ring or the tail") }
            let payload = UnsafeRawBufferPointer(start: data + offset + RingLayout.recordHeader, count: length)
            return .record(kind: kind, stamp: stamp, payload: payload, end: position + UInt64(size))
        }
    }
}

/// The rules for the records of one ring: a whole message no larger than the limit, or a message in parts
/// (a first record announcing the length, parts, a last record, adding up exactly), nothing in between.
package enum PartRules {
    package enum Step: Equatable {
        /// Start a message of `total` bytes (reserve its room, then copy the part in).
        case start(total: Int)
        /// Copy the part in at the message's current length; `complete` after a last record.
        case append(complete: Bool)
        case violation(String)
    }

    /// What a record means, given the message in progress (`nil` when none is) and the largest message the
    /// mailslot takes.
    package static func check(_ kind: RingKind, stamp: UInt64, length: Int, inProgress: (total: Int, filled: Int)?, limit: Int) -> Step {
        switch kind {
        case .first:
            guard inProgress == nil else { return .violation("a new message inside a multi-part one") }
            guard stamp <= UInt64(limit), Int(stamp) > length else {
                return .violation("a multi-part message of \(stamp) bytes (the limit is \(limit))")
            }
            return .start(total: Int(stamp))
        case .part, .last:
            guard let (total, filled) = inProgress else { return .violation("a part outside a multi-part message") }
            let end = filled + length
            guard kind == .part ? end < total : end == total else { return .violation("parts that do not add up to the message's length") }
            return .append(complete: kind == .last)
        case .whole:
            guard inProgress == nil else { return .violation("a whole message inside a multi-part one") }
            guard length <= limit else { return .violation("a message of \(length) bytes over the limit of \(limit)") }
            return .append(complete: true)
        case .wrap:
            return .violation("a wrap record where a record belongs")
        }
    }
}
