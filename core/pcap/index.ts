// Capture files: streaming pcap and pcapng writers and readers, and their sinks.
//   write: new PcapngWriter(new FileSink(path)); w.addInterface({ name: "c0/eth0" });
//          w.writePacket(0, sec, nsec, buf, off, len); w.close();
//   read:  const rd = openCaptureFile(path); const r = newCaptureRecord(); while (rd.next(r)) ...
export * from "./reader.js";
export { PcapReader } from "./pcap-reader.js";
export { PcapngReader } from "./pcapng-reader.js";
export { PcapWriter, type PcapWriterOptions } from "./pcap-writer.js";
export { PcapngWriter, type PcapngInterfaceOptions, type PcapngWriterOptions } from "./pcapng-writer.js";
export { FileSink, MemorySink, type CaptureSink } from "./sink.js";
export { EPB_INBOUND, EPB_OUTBOUND, EPB_DIR_MASK } from "./pcapng-format.js";
export { LINKTYPE_ETHERNET, DEFAULT_SNAPLEN } from "./pcap-format.js";
