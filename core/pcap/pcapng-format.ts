// pcapng layout (draft-ietf-opsawg-pcapng): block types, option codes, offsets and flags shared
// by pcapng-writer.ts and pcapng-reader.ts. Every field is in the byte order its section's SHB
// declares; block bodies and option values are padded to 32 bits.
//
// General block (offsets from the block start):
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +---------------------------------------------------------------+
//  0|                          Block Type                           |
//   +---------------------------------------------------------------+
//  4|                      Block Total Length                       |
//   +---------------------------------------------------------------+
//  8/                          Block Body                           /
//   /              variable length, padded to 32 bits               /
//   +---------------------------------------------------------------+
//   |                      Block Total Length                       |
//   +---------------------------------------------------------------+
//
// Section Header Block (type 0x0A0D0D0A, the same in both byte orders):
//   +---------------------------------------------------------------+
//  8|                Byte-Order Magic (0x1A2B3C4D)                  |
//   +-------------------------------+-------------------------------+
// 12|          Major Version 1      |         Minor Version 0       |
//   +-------------------------------+-------------------------------+
// 16|            Section Length (64 bits; -1 = not specified)       |
//   +---------------------------------------------------------------+
// 24/                    Options (shb_userappl 4, ...)              /
//   +---------------------------------------------------------------+
//
// Interface Description Block (type 1); interfaces are numbered 0, 1, ... per section:
//   +-------------------------------+-------------------------------+
//  8|           LinkType            |           Reserved            |
//   +-------------------------------+-------------------------------+
// 12|                            SnapLen                            |
//   +---------------------------------------------------------------+
// 16/  Options: if_name 2, if_description 3 (UTF-8), if_tsresol 9   /
//   /  (1 byte: bit 7 clear = 10^-n s, set = 2^-n s; absent = 10^-6)/
//   /  if_tsoffset 14 (64-bit signed seconds added to timestamps)   /
//   +---------------------------------------------------------------+
//
// Enhanced Packet Block (type 6); the timestamp counts if_tsresol units since 1970:
//   +---------------------------------------------------------------+
//  8|                         Interface ID                          |
//   +---------------------------------------------------------------+
// 12|                        Timestamp (High)                       |
//   +---------------------------------------------------------------+
// 16|                        Timestamp (Low)                        |
//   +---------------------------------------------------------------+
// 20|                    Captured Packet Length                     |
//   +---------------------------------------------------------------+
// 24|                    Original Packet Length                     |
//   +---------------------------------------------------------------+
// 28/                Packet Data, padded to 32 bits                 /
//   +---------------------------------------------------------------+
//   /  Options: opt_comment 1 (UTF-8), epb_flags 2 (32 bits; bits   /
//   /  0-1 direction: 0 unknown, 1 inbound, 2 outbound)             /
//   +---------------------------------------------------------------+
//
// Simple Packet Block (type 3): 8 Original Packet Length, 12 Packet Data. Interface 0; captured
// length = min(original length, snaplen, what the block holds); no timestamp.
//
// Option:
//   +-------------------------------+-------------------------------+
//   |          Option Code          |         Option Length         |
//   +-------------------------------+-------------------------------+
//   /      Option Value (Option Length bytes, padded to 32 bits)    /
//   +---------------------------------------------------------------+
// A list ends with opt_endofopt (code 0, length 0); a block without options has no list at all.

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 1;
export const BT_PB = 2; // obsolete Packet Block: like an EPB with a 16-bit interface id and drop count
export const BT_SPB = 3;
export const BT_EPB = 6;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const OPT_SHB_USERAPPL = 4;
export const OPT_IF_NAME = 2;
export const OPT_IF_DESCRIPTION = 3;
export const OPT_IF_TSRESOL = 9;
export const OPT_IF_TSOFFSET = 14;
export const OPT_EPB_FLAGS = 2;

/** epb_flags bits 0-1: the direction. */
export const EPB_DIR_MASK = 3;
export const EPB_INBOUND = 1;
export const EPB_OUTBOUND = 2;

export const BLOCK_HEADER_LEN = 8; // type + total length
export const BLOCK_MIN_LEN = 12; // type + total length + trailing total length
export const SHB_MIN_LEN = 28;
export const IDB_MIN_LEN = 20;
export const EPB_MIN_LEN = 32;
export const SPB_MIN_LEN = 16;
export const EPB_HEADER_LEN = 28; // up to the packet data
export const SPB_HEADER_LEN = 12;
export const IDB_HEADER_LEN = 16;
export const SHB_HEADER_LEN = 24;

/** Bytes of padding that bring `n` to a multiple of 4. */
export const pad4 = (n: number): number => (4 - (n & 3)) & 3;
