// Classic pcap layout (draft-ietf-opsawg-pcap, libpcap's savefile format): constants and offsets
// shared by pcap-writer.ts and pcap-reader.ts. All fields are in the writer's byte order, which
// the reader learns from the magic number.
//
// File header (24 bytes):
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +---------------------------------------------------------------+
//  0|   Magic Number (0xA1B2C3D4 microseconds, 0xA1B23C4D nanosec.) |
//   +-------------------------------+-------------------------------+
//  4|          Major Version 2      |         Minor Version 4       |
//   +-------------------------------+-------------------------------+
//  8|                           Reserved1 (thiszone)                |
//   +---------------------------------------------------------------+
// 12|                           Reserved2 (sigfigs)                 |
//   +---------------------------------------------------------------+
// 16|                            SnapLen                            |
//   +---------------------------------------------------------------+
// 20| FCS |f|   reserved        |           LinkType (1 = Ethernet) |
//   +---------------------------------------------------------------+
//
// Packet record (16-byte header, then Captured Packet Length bytes, no padding):
//   +---------------------------------------------------------------+
//  0|                      Timestamp (Seconds)                      |
//   +---------------------------------------------------------------+
//  4|            Timestamp (Microseconds or nanoseconds)            |
//   +---------------------------------------------------------------+
//  8|                    Captured Packet Length                     |
//   +---------------------------------------------------------------+
// 12|                    Original Packet Length                     |
//   +---------------------------------------------------------------+
// 16/                          Packet Data                          /
//   +---------------------------------------------------------------+

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** The same magics read in the other byte order. */
export const PCAP_MAGIC_US_SWAPPED = 0xd4c3b2a1;
export const PCAP_MAGIC_NS_SWAPPED = 0x4d3cb2a1;

export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

export const PCAP_MAGIC = 0;
export const PCAP_VMAJOR = 4;
export const PCAP_VMINOR = 6;
export const PCAP_SNAPLEN = 16;
export const PCAP_LINKTYPE = 20;

export const REC_SEC = 0;
export const REC_FRAC = 4;
export const REC_CAPLEN = 8;
export const REC_ORIGLEN = 12;

/** The link type lives in the low bits of the LinkType field (libpcap's LT_LINKTYPE). */
export const LINKTYPE_MASK = 0x03ffffff;
export const LINKTYPE_ETHERNET = 1;
/** tcpdump's default snapshot length (libpcap MAXIMUM_SNAPLEN). */
export const DEFAULT_SNAPLEN = 262144;
